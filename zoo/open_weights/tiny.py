"""Tiny random stand-ins for the parts the open-weights pipelines share, built in code with no download.

The published checkpoints are gigabytes behind a network; the tests and chapter 14 run each pipeline's
real code on components of the same classes with a few thousand random weights instead. Tokenizers are
built here too, with Hugging Face ``tokenizers``, from a handful of captions: a byte-level BPE (the
RoBERTa tokenizer of CLAP) and a unigram model (T5's SentencePiece kind).

Everything runs at :data:`RATE` Hz so a clip of one second is a few thousand samples.
"""

from __future__ import annotations

RATE = 4000  # the tiny pipelines' sample rate
CAPTIONS = ["a kick drum", "a snare with a short tail", "rain on a tin roof", "a piano chord in c major",
            "a hammer hitting wood", "a calm piano loop", "a fast techno beat", "birds in the morning"]
WIDTH = 16  # the width of every tiny text encoder


def roberta_tokenizer(max_length: int = 24):
    """A byte-level BPE tokenizer with RoBERTa's special tokens (<s>=0, <pad>=1, </s>=2)."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CAPTIONS, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                model_max_length=max_length)


def t5_tokenizer(max_length: int = 32):
    """A unigram tokenizer with T5's special tokens (<pad>=0, </s>=1, <unk>=2); ``</s>`` closes each text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import T5TokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.train_from_iterator(CAPTIONS, trainers.UnigramTrainer(
        vocab_size=80, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                           model_max_length=max_length, extra_ids=0)


def t5_encoder(vocab: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=vocab, d_model=WIDTH, d_ff=32, d_kv=8, num_heads=2, num_layers=1))


def clap_text_config(vocab: int):
    from transformers import ClapTextConfig

    return ClapTextConfig(vocab_size=vocab, hidden_size=WIDTH, intermediate_size=32, num_attention_heads=2,
                          num_hidden_layers=1, projection_dim=WIDTH, max_position_embeddings=32,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2)


def clap_model(vocab: int):
    """A whole CLAP (text and audio towers), as AudioLDM 2 and MusicLDM hold it."""
    from transformers import ClapAudioConfig, ClapConfig, ClapModel

    audio = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=32, depths=[1, 1],
                            num_attention_heads=[2, 2], num_hidden_layers=2, hidden_size=32,
                            projection_dim=WIDTH, patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    return ClapModel(ClapConfig(text_config=clap_text_config(vocab).to_dict(), audio_config=audio.to_dict(),
                                projection_dim=WIDTH))


def clap_features():
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(feature_size=64, sampling_rate=RATE, hop_length=80, max_length_s=1,
                                fft_window_size=512, frequency_min=0, frequency_max=RATE // 2)


def mel_vae():
    """The AudioLDM family's autoencoder: a 2-D VAE over a mel spectrogram (8 mel bins here), 2x down."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         norm_num_groups=4)


def vocoder():
    """A HiFi-GAN from 8 mel bins to audio, 16 samples per mel frame."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    return SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=RATE, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False))


def ddim():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False)


def unet_kwargs() -> dict:
    """What the tiny 2-D U-Nets of AudioLDM 1/2 and MusicLDM share: two levels, attention on the lower."""
    return dict(sample_size=(16, 4), in_channels=4, out_channels=4, block_out_channels=(8, 16),
                layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))



def clap_unet():
    """AudioLDM's and MusicLDM's U-Net: the CLAP embedding enters as a class embedding, concatenated to
    the time embedding, and cross-attention reads it too."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**unet_kwargs(), cross_attention_dim=WIDTH, class_embed_type="simple_projection",
                                class_embeddings_concat=True, projection_class_embeddings_input_dim=WIDTH)
