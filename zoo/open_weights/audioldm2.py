"""AudioLDM 2 (Liu et al. 2023): a language model writes the "language of audio" a latent U-Net reads.

Two text encoders read the prompt - CLAP (chapter 12) and T5 (Flan-T5) - and a projection joins their
outputs; GPT-2 then continues that sequence for 8 new vectors (an AudioMAE-like "language of audio",
the token-LM idea of chapter 11 over continuous vectors), and the 2-D U-Net of AudioLDM (chapter 13)
denoises mel latents while cross-attending to both the T5 states and GPT-2's vectors.

The published checkpoint declares its language model as ``GPT2Model``, which has no ``generate``; loaded
as declared, sampling crashes. :meth:`AudioLDM2._parts` loads it as ``GPT2LMHeadModel`` (same weights, with
the generation machinery). The pipeline also refuses a negative prompt of another type than the prompt
(a str beside a list); the wrapper passes both as str.
"""

from __future__ import annotations

from zoo.open_weights import tiny
from zoo.open_weights.diffusion import DiffusersWrapper


class AudioLDM2(DiffusersWrapper):
    name = "audioldm2"
    system = "AudioLDM 2"
    hub_id = "cvssp/audioldm2"
    pipeline = "AudioLDM2Pipeline"
    chapters = ("11_codec_lm", "12_clap", "13_latent_diffusion")
    licence = "CC BY-NC-SA 4.0"
    licence_url = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
    gated = False
    sample_rate, channels, seconds, max_seconds = 16000, 1, 10.24, 30.0
    steps, guidance = 200, 3.5
    notes = ("the checkpoint declares GPT2Model, which cannot generate: its language model is loaded as "
             "GPT2LMHeadModel; the negative prompt is passed with the prompt's type")

    @classmethod
    def pipeline_class(cls):
        from diffusers import AudioLDM2Pipeline

        return AudioLDM2Pipeline

    @classmethod
    def _parts(cls, source, dtype, token, local_only) -> dict:
        from transformers import GPT2LMHeadModel

        return {"language_model": GPT2LMHeadModel.from_pretrained(
            source, subfolder="language_model", dtype=dtype, token=token, local_files_only=local_only)}

    def _call(self, prompt, seconds, seed, steps, guidance, negative_prompt, progress) -> dict:
        kwargs = super()._call(prompt, seconds, seed, steps, guidance, negative_prompt, progress)
        kwargs["negative_prompt"] = None if negative_prompt is None else str(negative_prompt)  # as the prompt
        return kwargs

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        import torch
        from diffusers import AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel
        from transformers import GPT2Config, GPT2LMHeadModel

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            tokenizer, tokenizer_2 = tiny.roberta_tokenizer(), tiny.t5_tokenizer()
            clap, t5 = tiny.clap_model(len(tokenizer)), tiny.t5_encoder(len(tokenizer_2))
            gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=tiny.WIDTH, n_head=2, n_layer=1, vocab_size=64,
                                              n_positions=64, bos_token_id=0, eos_token_id=0))
            gpt2.config.max_new_tokens = 4  # how many "language of audio" vectors GPT-2 writes
            projection = AudioLDM2ProjectionModel(text_encoder_dim=tiny.WIDTH, text_encoder_1_dim=tiny.WIDTH,
                                                  langauge_model_dim=tiny.WIDTH)  # (sic: diffusers' spelling)
            unet = AudioLDM2UNet2DConditionModel(**tiny.unet_kwargs(), cross_attention_dim=(
                [None, tiny.WIDTH, tiny.WIDTH], [None, tiny.WIDTH, tiny.WIDTH]))
            vae, vocoder = tiny.mel_vae(), tiny.vocoder()
        return cls.pipeline_class()(
            vae=vae, text_encoder=clap, text_encoder_2=t5, projection_model=projection, language_model=gpt2,
            tokenizer=tokenizer, tokenizer_2=tokenizer_2, feature_extractor=tiny.clap_features(), unet=unet,
            scheduler=tiny.ddim(), vocoder=vocoder)
