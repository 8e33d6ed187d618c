"""The default sampler: v-prediction DDIM on SD's linear betas with zero terminal SNR (paper §4.3), and the
other sampler a model can ship with."""

from diffusers import DDIMScheduler

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="linear",
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    # With zero terminal SNR the first step must start at t=999 (pure noise): "trailing" does, "leading"
    # (SD's default) starts at t=981 and leaves a train/test gap (Lin et al. 2023, §3.3).
    timestep_spacing="trailing",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=0,
)


def default_scheduler() -> DDIMScheduler:
    """A fresh instance of the default sampler."""
    return DDIMScheduler(**SCHEDULER_CONFIG)


SAMPLERS = ("ddim", "dpmsolver++")


def sampler_from_config(config, name: str):
    """The sampler `name` ("ddim" or "dpmsolver++", second order) on the noise schedule and prediction type of the
    scheduler `config`."""
    from diffusers import DPMSolverMultistepScheduler

    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
