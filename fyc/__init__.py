"""Follow-Your-Click: regional image animation from clicks and short motion prompts.

    from fyc import load_pipeline, Region
    pipe = load_pipeline()                      # best weights under weights/ (the motion-field demo model by default)
    video = pipe(image, regions=[Region(mask, "sway")], ofm=8).frames[0]

Heavy modules (torch, diffusers) are imported on first use so that `import fyc` stays cheap.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "FollowYourClickPipeline": "fyc.pipeline",
    "FollowYourClickPipelineOutput": "fyc.pipeline",
    "Region": "fyc.region",
    "FYCUNetMotionModel": "fyc.models",
    "load_pipeline": "fyc.weights",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fyc' has no attribute {name!r}")
