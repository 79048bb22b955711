"""MusicGen (Copet et al. 2023): chapter 11's codec language model at full size.

EnCodec (chapter 10) turns 32 kHz audio into 4 codebooks of 2048 codes at 50 frames a second; one
transformer decoder writes all four streams at once, each delayed by one step more than the last (the
delay pattern), cross-attending to a T5 encoding of the prompt; classifier-free guidance mixes the
conditional and unconditional logits (scale 3). Sampling is top-k (k = 250) from those logits.

The arithmetic of the length: the delay pattern needs K - 1 steps more than there are frames, so a clip
of ``s`` seconds takes ``ceil(s x frame_rate) + K - 1`` decoder steps, and EnCodec's output is trimmed to
``round(s x rate)`` samples. ``generate`` takes no ``torch.Generator``: the wrapper seeds torch's global
generator inside ``torch.random.fork_rng``, which restores the caller's random state afterwards.
"""

from __future__ import annotations

import math

from lineage.open_weights import OpenWeightsError, Wrapper
from zoo.open_weights import tiny


class MusicgenPipe:
    """The model and its processor (tokenizer + feature extractor), moved and saved together."""

    def __init__(self, model, processor):
        self.model, self.processor = model.eval(), processor

    def to(self, device):
        self.model.to(device)
        return self

    def save_pretrained(self, folder: str) -> None:
        self.model.save_pretrained(folder)
        self.processor.save_pretrained(folder)


def _ticker(progress):
    """A logits processor that does nothing to the logits and ticks ``progress`` once per decoder step."""
    from transformers import LogitsProcessor

    class Tick(LogitsProcessor):
        def __call__(self, input_ids, scores):
            progress()
            return scores

    return Tick()


class MusicGen(Wrapper):
    name = "musicgen"
    system = "MusicGen"
    hub_id = "facebook/musicgen-small"
    library = "transformers"
    pipeline = "MusicgenForConditionalGeneration"
    chapters = ("10_codec", "11_codec_lm")
    licence = "CC BY-NC 4.0 (the code: MIT)"
    licence_url = "https://creativecommons.org/licenses/by-nc/4.0/"
    gated = False
    sample_rate, channels, seconds, max_seconds = 32000, 1, 8.0, 30.0
    steps, guidance = None, 3.0
    notes = ("decoder steps = ceil(seconds x frame_rate) + codebooks - 1, then trimmed; generate() takes no "
             "generator, so the global generator is seeded inside fork_rng and restored after")

    @classmethod
    def _load(cls, source, dtype, token, local_only):
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        model = MusicgenForConditionalGeneration.from_pretrained(source, dtype=dtype, token=token,
                                                                 local_files_only=local_only)
        processor = AutoProcessor.from_pretrained(source, token=token, local_files_only=local_only)
        return MusicgenPipe(model, processor)

    @property
    def rate(self) -> int:
        return int(self.pipe.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> float:
        return float(self.pipe.model.config.audio_encoder.frame_rate)

    @property
    def codebooks(self) -> int:
        return int(self.pipe.model.decoder.num_codebooks)

    @property
    def longest(self) -> float:
        positions = self.pipe.model.decoder.config.max_position_embeddings  # 2048 published: 40 s at 50 Hz
        return min(self.max_seconds, (positions - self.codebooks) / self.frame_rate)

    def decoder_steps(self, seconds: float) -> int:
        return math.ceil(seconds * self.frame_rate) + self.codebooks - 1

    def _generate(self, prompt, seconds, seed, steps, guidance, negative_prompt, progress):
        import torch

        if negative_prompt is not None:
            raise OpenWeightsError(f"{self.name}: takes no negative prompt; its guidance pushes away from the "
                                   f"empty prompt (zero text states), which is all it was trained with")
        if steps is not None:
            raise OpenWeightsError(f"{self.name}: takes no --steps; it writes ceil(seconds x "
                                   f"{self.frame_rate:g}) + {self.codebooks - 1} tokens, fixed by the length")

        model = self.pipe.model
        inputs = self.pipe.processor(text=[prompt], padding=True, return_tensors="pt").to(model.device)
        n = self.decoder_steps(seconds)
        progress.reset(n)
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
            torch.manual_seed(seed)
            audio = model.generate(**inputs, do_sample=True, guidance_scale=guidance, max_new_tokens=n,
                                   logits_processor=[_ticker(progress)])
        return audio[0]  # [channels, samples], trimmed by Wrapper.generate

    # -- EnCodec, on its own: audio to the codes the decoder writes, and back -------------------------
    def encode(self, audio):
        """``[channels, samples]`` at :attr:`rate` -> codes ``[codebooks, frames]`` (int64)."""
        import torch

        codec = self.pipe.model.audio_encoder
        x = torch.as_tensor(audio, dtype=codec.dtype, device=codec.device).reshape(1, -1, audio.shape[-1])
        with torch.no_grad():
            codes = codec.encode(x, bandwidth=None).audio_codes  # [chunks=1, 1, K, frames]
        return codes[0, 0, :self.codebooks]

    def decode(self, codes):
        """Codes ``[codebooks, frames]`` -> ``[channels, frames x hop]`` float32 numpy."""
        import torch

        codec = self.pipe.model.audio_encoder
        with torch.no_grad():
            audio = codec.decode(codes[None, None].to(codec.device), [None]).audio_values
        return audio[0].float().cpu().numpy()

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        import torch
        from transformers import (EncodecConfig, EncodecFeatureExtractor, MusicgenConfig,
                                  MusicgenDecoderConfig, MusicgenForConditionalGeneration, MusicgenProcessor,
                                  logging)

        tokenizer = tiny.t5_tokenizer()
        # EnCodec at 4 kHz, 32 samples a frame (125 Hz); 4 codebooks of 32 codes
        codec = EncodecConfig(sampling_rate=tiny.RATE, audio_channels=1, num_filters=4, num_residual_layers=1,
                              upsampling_ratios=[4, 4, 2], codebook_size=32, hidden_size=8,
                              num_lstm_layers=1, target_bandwidths=[5.0], codebook_dim=8)
        # the pad/start token is one past the codebook (code 32), as in the published checkpoints
        decoder = MusicgenDecoderConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, ffn_dim=32, num_codebooks=4,
                                        max_position_embeddings=260, pad_token_id=32, bos_token_id=32)
        text = tiny.t5_encoder(len(tokenizer)).config
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # transformers warns that the pad token lies past the vocabulary
        try:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = MusicgenForConditionalGeneration(MusicgenConfig(
                    text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict()))
                for layer in model.audio_encoder.quantizer.layers:  # codebooks start at zero (k-means fills
                    layer.codebook.embed.normal_()  # them in training): random ones make every code sound
        finally:
            logging.set_verbosity(verbosity)
        model.generation_config.update(decoder_start_token_id=32, pad_token_id=32, do_sample=True,
                                       guidance_scale=3.0, top_k=8, max_length=260)
        processor = MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=1,
                                                                                sampling_rate=tiny.RATE),
                                      tokenizer=tokenizer)
        return MusicgenPipe(model, processor)
