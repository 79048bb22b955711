"""Evaluation: the papers' metric protocol at mini scale, speed figures, and the comparison table.

* :mod:`lineage.eval.metrics` - FID, IS, mIS, AM, NDB/K; MR-STFT distance, LSD; pitch accuracy.
* :mod:`lineage.eval.classifier` - the log-mel CNN judge behind the classifier metrics, cached per data set.
* :mod:`lineage.eval.degrade` - what generated audio has wrong with it (noise floors, quantisation, band
  limits...), applied on purpose: the judge's training augmentation and the metric ladder's rungs.
* :mod:`lineage.eval.standard` - the field's own judges beside ours: CREPE, DNSMOS, PESQ and STOI.
* :mod:`lineage.eval.speed` - real-time factor and training throughput, with the machine described.
* :mod:`lineage.eval.report` - ``lineage eval RUN``: all of the above for one run, into ``metrics.json``.

It only judges: training the runs it judges, and tabulating or showing the results, happen above it
(:mod:`lineage.bench`, :mod:`lineage.tables`, :mod:`lineage.listen`), and nothing here imports those.
"""

from lineage.eval.metrics import (am_score, fid, frechet_distance, inception_score, log_spectral_distance,
                                  modified_inception_score, mrstft_distance, ndb, pitch_accuracy)

__all__ = ["am_score", "fid", "frechet_distance", "inception_score", "log_spectral_distance",
           "modified_inception_score", "mrstft_distance", "ndb", "pitch_accuracy"]
