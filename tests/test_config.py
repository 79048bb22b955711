import pytest

from lineage.config import ConfigError, DataConfig, make_config
from zoo.wavenet import Config as WaveNetConfig


def test_defaults_preset_and_overrides(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('[model]\nchannels = 16\n[train]\nlr = 1\n[data]\nselect = { timbre = ["saw"] }\n')
    cfg = make_config(WaveNetConfig, preset, ["train.steps=7", "model.cond_keys=['pitch']",
                                              "data.crop=start"])
    assert cfg.model.channels == 16 and cfg.train.steps == 7 and cfg.train.lr == 1.0
    assert isinstance(cfg.train.lr, float)  # an integer is accepted where a float is asked for
    assert cfg.model.cond_keys == ["pitch"] and cfg.data.crop == "start"
    assert cfg.data.select == {"timbre": ["saw"]}
    assert DataConfig().select == {}  # defaults are not shared between instances


@pytest.mark.parametrize("override, words", [
    ("model.channels=banana", ["model.channels", "'banana'", "integer"]),
    ("model.chanels=3", ["unknown key model.chanels", "did you mean model.channels"]),
    ("train.device=tpu", ["train.device", "'tpu'", "'cpu'"]),
    ("train.steps=0", ["train.steps", "from 1 to 1,000,000,000"]),
    ("data.pitch_range=[1, 'x']", ["data.pitch_range[1]", "integer"]),
    ("optim.lr=1", ["unknown section [optim]"]),
    ("steps=3", ["section.key=value"]),
])
def test_bad_values_fail_in_one_line_naming_key_and_value(override, words):
    with pytest.raises(ConfigError) as err:
        make_config(WaveNetConfig, None, [override])
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_bad_preset_file_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        make_config(WaveNetConfig, bad)
    with pytest.raises(ConfigError, match="missing.toml"):
        make_config(WaveNetConfig, tmp_path / "missing.toml")
