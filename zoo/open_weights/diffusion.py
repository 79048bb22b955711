"""What the four diffusers wrappers share: load a pipeline from safetensors, run it with a seeded
generator and a step callback, return ``[channels, samples]``."""

from __future__ import annotations

from lineage.open_weights import Wrapper


class DiffusersWrapper(Wrapper):
    library = "diffusers"
    length_argument = "audio_length_in_s"  # what the pipeline calls the clip's length

    @classmethod
    def pipeline_class(cls):
        raise NotImplementedError

    @classmethod
    def _parts(cls, source: str, dtype, token, local_only: bool) -> dict:
        """Components to load by hand instead of as the checkpoint declares them (none by default)."""
        return {}

    @classmethod
    def _load(cls, source: str, dtype, token, local_only: bool):
        return cls.pipeline_class().from_pretrained(
            source, dtype=dtype, token=token, local_files_only=local_only,
            **cls._parts(source, dtype, token, local_only))

    def __init__(self, pipe, device: str = "cpu"):
        import torch

        super().__init__(pipe, device)
        pipe.set_progress_bar_config(disable=True)  # lineage.progress draws the one display
        for part in pipe.components.values():  # from_pretrained does this; a pipeline built in code needs it
            if isinstance(part, torch.nn.Module):
                part.eval()  # no dropout at sampling time: the same seed, the same clip

    def _call(self, prompt: str, seconds: float, seed: int, steps: int, guidance: float,
              negative_prompt: str | None, progress) -> dict:
        """The pipeline's keyword arguments; a wrapper adds its own."""
        import torch

        progress.reset(steps)
        return {"prompt": prompt, self.length_argument: seconds, "num_inference_steps": steps,
                "guidance_scale": guidance, "negative_prompt": negative_prompt,
                # a CPU generator gives the same starting noise on every device
                "generator": torch.Generator("cpu").manual_seed(seed),
                "callback": progress, "callback_steps": 1, "output_type": "np"}

    def _generate(self, prompt, seconds, seed, steps, guidance, negative_prompt, progress):
        audio = self.pipe(**self._call(prompt, seconds, seed, steps, guidance, negative_prompt, progress)).audios
        return audio[0].reshape(self.channels if audio.ndim == 3 else 1, -1)  # [channels, samples]

    @property
    def rate(self) -> int:
        return int(self.pipe.vocoder.config.sampling_rate)
