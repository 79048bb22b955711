"""The espeak-ng speech synthesiser, from the wheel ``espeakng-loader``: no system package needed.

``espeakng-loader`` ships libespeak-ng and its voice data (``espeak-ng-data``) inside a Python wheel.
This module drives that library through its C API (``speak_lib.h``) with ctypes: it is initialised for
synchronous retrieval (the samples are handed to a callback instead of a sound card), a voice is chosen
by name (``accent+variant``, e.g. ``en-us+f3``), the speaking rate and pitch are set, and the 16-bit
samples the callback receives are collected. :func:`speak` is the one call the data recipes use;
:func:`info` names the synthesiser (its version goes on the data set's card).

Why a helper process, and why it forks. The library keeps its synthesiser's state (pitch flutter,
waveform phase, noise generators, ...) in globals that carry over from one utterance to the next: in one
process the same word, voice, pitch and rate come out as different samples depending on what was said
before, and with two build threads on what the other thread said. So a helper process loads and
initialises the library once, then forks a child for each utterance: every word starts from the same
just-initialised state, whatever was said before and in whatever order it is asked for, as when the
``espeak-ng`` program was started once per word. Each caller thread borrows a helper of its own (two
build threads, two helpers). The breath noise of some variants (f2, f3, f5, whisper) comes from a
generator that is seeded differently in every process unless it is set, so each child seeds it with
``espeak_ng_SetRandSeed`` (espeak_ng.h) first: without that, two builds of `digits` differed in a
quarter of their clips, all of those variants.

The helper runs this very file with the standard library only (``python -I -S``), so it starts in
milliseconds; it reads one line of JSON per utterance and answers with a JSON header line and the raw
samples. Forking needs ``os.fork`` (Linux, macOS).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import subprocess
import sys
import threading

# values from espeak-ng's speak_lib.h (API revision 12)
AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: samples go to the callback; espeak_Synth returns when done
EE_OK = 0  # espeak_ERROR
POS_CHARACTER = 1  # espeak_POSITION_TYPE: espeak_Synth's start position counts characters
espeakRATE, espeakPITCH = 1, 3  # espeak_PARAMETER
espeakRATE_MINIMUM, espeakRATE_MAXIMUM = 80, 450  # words per minute
espeakCHARS_UTF8 = 1  # espeak_Synth flags: the text is UTF-8 ...
espeakENDPAUSE = 0x1000  # ... and ends with a sentence pause, as the espeak-ng program speaks it
espeakINITIALIZE_DONT_EXIT = 0x8000  # espeak_Initialize options: return 0 on missing data, not exit()
RAND_SEED = 1  # for espeak_ng_SetRandSeed (espeak_ng.h): the breath noise of the f2, f3, f5 and whisper variants

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); the events are not read here
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class VoiceStruct(ctypes.Structure):
    """speak_lib.h's ``espeak_VOICE``, as ``espeak_GetCurrentVoice`` returns it."""

    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


def open_library(path: str) -> ctypes.CDLL:
    """libespeak-ng at ``path``, with the argument and result types of the functions used here."""
    lib = ctypes.CDLL(path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int  # the sample rate in Hz, or -1
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_GetCurrentVoice.argtypes = []
    lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(VoiceStruct)
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    # text, its size, start position and its kind, end position, flags, unique id out, user data
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    return lib


# ---- the helper process (standard library only: it runs as `python -I -S espeak.py LIBRARY DATA`) ----

def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]  # a pipe may take less than all of it at once


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _utter(lib: ctypes.CDLL, samples: bytearray, request: dict) -> bytes:
    """In a forked child: one utterance, as a JSON header line and (when it worked) the int16 samples."""
    voice, variant = request["voice"], request["voice"].partition("+")[2]
    status = lib.espeak_SetVoiceByName(voice.encode())
    chosen = lib.espeak_GetCurrentVoice()
    identifier = chosen.contents.identifier.decode() if chosen and chosen.contents.identifier else ""
    # an unknown variant is dropped silently by the library: the identifier of the voice it loaded says
    if status != EE_OK or (variant and not identifier.endswith("+" + variant)):
        loaded = identifier if status == EE_OK else ""  # the voice it did load, without the variant
        return json.dumps({"error": "voice", "loaded": loaded}).encode() + b"\n"
    lib.espeak_ng_SetRandSeed(RAND_SEED)
    lib.espeak_SetParameter(espeakRATE, request["rate"], 0)  # 0: an absolute value, not relative
    lib.espeak_SetParameter(espeakPITCH, request["pitch"], 0)
    text = request["text"].encode() + b"\0"
    status = lib.espeak_Synth(text, len(text), 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE, None, None)
    if status != EE_OK or lib.espeak_Synchronize() != EE_OK:
        return json.dumps({"error": f"synthesis failed with espeak_ERROR {status}"}).encode() + b"\n"
    return json.dumps({"samples": len(samples) // 2}).encode() + b"\n" + bytes(samples)


def _serve(library: str, data: str) -> None:
    """The helper: initialise the library once, then fork a child for each request line on stdin."""
    lib = open_library(library)
    # buffer length 0: the default 60 ms; the path may be espeak-ng-data itself, as the loader gives it
    sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), espeakINITIALIZE_DONT_EXIT)
    if sample_rate <= 0:
        _write(1, json.dumps({"error": f"espeak_Initialize failed on {data}"}).encode() + b"\n")
        return
    samples = bytearray()

    @SYNTH_CALLBACK
    def collect(wav, count, events):
        if wav and count > 0:  # a NULL wav marks the end; a count of 0 is not the end
            samples.extend(ctypes.string_at(wav, count * 2))  # count shorts, two bytes each
        return 0  # 0: go on synthesising

    lib.espeak_SetSynthCallback(collect)
    version = lib.espeak_Info(None).decode()
    _write(1, json.dumps({"sample_rate": sample_rate, "version": version}).encode() + b"\n")
    for line in sys.stdin.buffer:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: speak, hand the result to the helper, and leave without any cleanup
            os.close(read_end)
            try:
                _write(write_end, _utter(lib, samples, json.loads(line)))
            except BaseException:
                os._exit(1)  # the helper reports it; a traceback would say nothing more useful
            os._exit(0)
        os.close(write_end)
        reply = _read_all(read_end)  # read before waiting: a child blocked on a full pipe never exits
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        if status != 0 or b"\n" not in reply:
            reply = json.dumps({"error": f"the synthesis process ended with status {status}"}).encode() + b"\n"
        _write(1, reply)


# ---- the caller's side ----

class _Helper:
    """One helper process, spoken to by one thread at a time."""

    def __init__(self, library: str, data: str):
        self.process = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__), library, data],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        hello = self._header()
        if "error" in hello:
            raise OSError(f"espeak-ng from espeakng-loader could not start: {hello['error']}")
        self.sample_rate, self.version = hello["sample_rate"], hello["version"]

    def _header(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise OSError(f"the espeak-ng helper process ended with status {self.process.wait()}")
        return json.loads(line)

    def ask(self, request: dict) -> tuple[dict, bytes]:
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        header = self._header()
        return header, self.process.stdout.read(2 * header.get("samples", 0))

    def close(self) -> None:
        self.process.stdin.close()  # the helper's loop ends on end of input
        self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


_idle: list[_Helper] = []  # helpers not in use; a thread that finds none starts one
_lock = threading.Lock()


def _paths() -> tuple[str, str]:
    """The library file and the espeak-ng-data folder that espeakng-loader ships."""
    try:
        import espeakng_loader
    except ImportError:
        raise OSError("the digits data set is spoken by espeak-ng from the Python package espeakng-loader, "
                      "which is not installed: pip install espeakng-loader (part of audio-lineage's "
                      "dependencies)") from None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def _borrow() -> _Helper:
    with _lock:
        if _idle:
            return _idle.pop()
    if not hasattr(os, "fork"):
        raise OSError("espeak-ng is run in forked processes here, and this platform has no os.fork "
                      "(Linux and macOS have it)")
    return _Helper(*_paths())


def _give_back(helper: _Helper) -> None:
    with _lock:
        _idle.append(helper)


@atexit.register
def _close_all() -> None:
    with _lock:
        while _idle:
            _idle.pop().close()


def info() -> dict:
    """The synthesiser: ``{"espeak-ng": version, "espeakng-loader": version, "sample_rate": Hz}``."""
    from importlib.metadata import version

    helper = _borrow()
    try:
        return {"espeak-ng": helper.version, "espeakng-loader": version("espeakng-loader"),
                "sample_rate": helper.sample_rate}
    finally:
        _give_back(helper)


def speak(text: str, voice: str, pitch: int, rate: int) -> tuple[np.ndarray, int]:
    """``text`` said by espeak-ng's ``voice`` (``"en-us"``, ``"en-us+f3"``: a voice and a variant) at base
    ``pitch`` (0-100, 50 normal) and ``rate`` (words per minute, 80-450): ``(int16 samples, sample rate)``.
    The same arguments give the same samples, whatever was spoken before."""
    import numpy as np  # here, not at the top: the helper process runs this file without numpy

    if not 0 <= pitch <= 100:
        raise ValueError(f"espeak-ng pitch {pitch} is out of range; it is 0-100 (50 is normal)")
    if not espeakRATE_MINIMUM <= rate <= espeakRATE_MAXIMUM:
        raise ValueError(f"espeak-ng rate {rate} is out of range; it is {espeakRATE_MINIMUM}-"
                         f"{espeakRATE_MAXIMUM} words per minute")
    helper = _borrow()
    try:
        header, raw = helper.ask({"text": text, "voice": voice, "pitch": int(pitch), "rate": int(rate)})
    except BaseException:
        helper.kill()  # a helper interrupted mid-reply is out of step with its caller: never reuse it
        raise
    _give_back(helper)
    if header.get("error") == "voice":
        found = f" (it found {header['loaded']!r}, without that variant)" if header["loaded"] else ""
        raise ValueError(f"espeak-ng {helper.version} has no voice {voice!r}{found}; name a voice file and "
                         f"a variant, e.g. 'en-us+m1' (voices: espeak-ng-data/lang, variants: "
                         f"espeak-ng-data/voices/!v)")
    if "error" in header:
        raise OSError(f"espeak-ng could not say {text!r} with voice {voice!r}: {header['error']}")
    return np.frombuffer(raw, dtype=np.int16), helper.sample_rate  # native order: the helper runs here too


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
