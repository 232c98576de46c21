"""The campaign: every run a profile's book needs, executed into its results store (:mod:`hmnet.store`), in
priority order, resumably, on this machine or elsewhere.

- :mod:`.plan`: the sections' runs in priority order (each section plans its own: :mod:`hmnet.sections`);
- :mod:`.projection`: seconds per training example measured on the stored runs, projected hours;
- :mod:`.runner`: the process pool within a time budget (``hmnet campaign run``);
- :mod:`.export`: the pending runs as `hmnet train` commands or a SLURM array script;
- :mod:`.device_pack`: the campaign carried to a lent GPU machine and its records back;
- :mod:`.rerun`: stored records trained again from their own configs and compared (``hmnet rerun``).

A run is pending when its record is absent, so a store is the same whether its runs came from the runner, from
exported commands run by hand or on a cluster, or from a notebook.
"""
