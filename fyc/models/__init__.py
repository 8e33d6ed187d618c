"""Models: the FYC motion UNet and its regional attention."""

from .regional_attention import ConditioningState, RegionalAttnProcessor
from .unet import FYCUNetMotionModel, MotionAugmentedTransformerBlock

__all__ = ["ConditioningState", "FYCUNetMotionModel", "MotionAugmentedTransformerBlock", "RegionalAttnProcessor"]
