"""The one home of a DL3 data store (GADF) in `sat`.

- `sat.dl3.store`: the index tables (their names, spelled once), `open_store`,
  `is_store`, the files of a run (`observation_files`, `events_file`);
- `sat.dl3.select`: runs by target name, ids or Gammapy's ``observations``
  block, and where a target is;
- `sat.dl3.files`: whether a file is whole (`damage`, `verify_file`,
  `verify_files`);
- `sat.dl3.hdus`: what each HDU is, from its GADF header; the HDUs of a file or
  of a store's runs;
- `sat.dl3.index`: writing a store's index tables (downloaded or simulated runs);
- `sat.dl3.makers`: energy axes, regions, exclusion masks and Gammapy's makers of
  1D spectra and 3D cubes;
- `sat.dl3.runs`: `checked_runs`, how an analysis starts: open, select, check.

Reduction, data quality, quick look, the archive and the simulations use these;
nothing else in `sat` reads index tables or DL3 headers. The modules import
Gammapy and astropy inside their functions.
"""
