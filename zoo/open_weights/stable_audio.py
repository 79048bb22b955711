"""Stable Audio Open (Evans et al. 2024): latent diffusion with a transformer, for stereo 44.1 kHz.

The grown-up form of chapter 13 (a diffusion model in the latent space of an autoencoder) with chapter
10's autoencoder (Oobleck: a convolutional encoder-decoder of the SEANet kind, 2048 samples to one
64-channel latent frame). Where chapter 13 used a 1-D U-Net and CLAP, it uses a DiT: a transformer over
the latent frames, conditioned on a T5 encoding of the prompt by cross-attention and on the clip's
start and end time (``audio_start_in_s``, ``audio_end_in_s``) as global tokens - timing conditioning is
how one model makes clips of any length up to 47 s. The sampler is DPM-Solver++ in its SDE form, whose
Brownian noise comes from ``torchsde``; the objective is chapter 13's v-parameterisation.
"""

from __future__ import annotations

from lineage.open_weights import OpenWeightsError
from zoo.open_weights import tiny
from zoo.open_weights.diffusion import DiffusersWrapper


class StableAudioOpen(DiffusersWrapper):
    name = "stable_audio_open"
    system = "Stable Audio Open"
    hub_id = "stabilityai/stable-audio-open-1.0"
    pipeline = "StableAudioPipeline"
    chapters = ("10_codec", "13_latent_diffusion")
    licence = "Stability AI Community License"
    licence_url = "https://huggingface.co/stabilityai/stable-audio-open-1.0/blob/main/LICENSE.md"
    gated = True
    sample_rate, channels, seconds, max_seconds = 44100, 2, 10.0, 47.0
    steps, guidance = 100, 7.0
    length_argument = "audio_end_in_s"  # its name for the clip's length (the others say audio_length_in_s)
    notes = ("its scheduler's SDE noise needs torchsde; the length argument is audio_end_in_s; the output is "
             "stereo [2, N]; the checkpoint is gated (accept the licence on the Hub, then use a token)")

    @classmethod
    def pipeline_class(cls):
        try:
            import torchsde  # noqa: F401 - CosineDPMSolverMultistepScheduler draws its noise with it
        except ImportError:
            raise OpenWeightsError(f"{cls.name}: its scheduler needs torchsde; pip install torchsde "
                                   f"(part of audio-lineage[pretrained])") from None
        from diffusers import StableAudioPipeline

        return StableAudioPipeline

    def _generate(self, prompt, seconds, seed, steps, guidance, negative_prompt, progress):
        import warnings

        with warnings.catch_warnings():  # torchsde's Brownian tree checks times to the last float bit
            warnings.filterwarnings("ignore", message="Should have t[ab]", module="torchsde")
            return super()._generate(prompt, seconds, seed, steps, guidance, negative_prompt, progress)

    @property
    def rate(self) -> int:
        return int(self.pipe.vae.sampling_rate)

    @property
    def longest(self) -> float:
        # the transformer's positions times the autoencoder's hop: 1024 x 2048 / 44100 = 47.5 s published
        return self.pipe.transformer.config.sample_size * self.pipe.vae.hop_length / self.rate

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        import torch
        from diffusers import AutoencoderOobleck, StableAudioDiTModel, StableAudioProjectionModel

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            tokenizer = tiny.t5_tokenizer()
            encoder = tiny.t5_encoder(len(tokenizer))
            projection = StableAudioProjectionModel(text_encoder_dim=tiny.WIDTH, conditioning_dim=8,
                                                    min_value=0, max_value=64)
            # 256 latent frames x a hop of 2 x 4 x 4 = 32 samples: 2.048 s at 4 kHz
            transformer = StableAudioDiTModel(
                sample_size=256, in_channels=4, out_channels=4, num_layers=1, attention_head_dim=8,
                num_attention_heads=2, num_key_value_attention_heads=1, cross_attention_dim=8,
                time_proj_dim=8, global_states_input_dim=16, cross_attention_input_dim=8)
            vae = AutoencoderOobleck(encoder_hidden_size=8, downsampling_ratios=[2, 4, 4], decoder_channels=8,
                                     decoder_input_channels=4, audio_channels=2, channel_multiples=[1, 2, 2],
                                     sampling_rate=tiny.RATE)
        from diffusers import CosineDPMSolverMultistepScheduler

        return cls.pipeline_class()(
            vae=vae, text_encoder=encoder, projection_model=projection, tokenizer=tokenizer,
            transformer=transformer, scheduler=CosineDPMSolverMultistepScheduler(
                solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"))
