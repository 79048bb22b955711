"""The codec language model (AudioGen 2022, MusicGen 2023), being built: ``pattern.py`` holds how K
streams of codec tokens are laid out for one transformer (delay and flattening). The entry itself - the
transformer, its text conditioning and its presets - is not registered yet."""
