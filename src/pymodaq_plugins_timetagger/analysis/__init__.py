"""The statistics of the measurements, Qt-free: exact intervals (:mod:`.intervals`), Poisson maximum-likelihood
fits (:mod:`.fitting`) of g2 (:mod:`.g2`) and lifetimes (:mod:`.lifetime`), and what a Run attaches to its
result (:mod:`.results`). The models and their sources: docs/statistics.rst."""
