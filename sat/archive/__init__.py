"""DL3 observations from IVOA archives: search (TAP/ObsCore), fetch (DataLink).

The client side speaks the protocols CTAO's science archive will speak, through
pyvo:

- `sat.archive.query`: an ObsCore query (target, position and radius, time and
  energy ranges, collection, facility, data product type) rendered as ADQL and run
  on a TAP service; every failure becomes a one-line `DataError`.
- `sat.archive.fetch`: download the runs a query found (DataLink ``#this`` when the
  service offers it, else ``access_url``), atomically and resumably with
  `sat.data.download`, check each file, and write the GADF obs-index and hdu-index
  so that Gammapy's ``DataStore.from_dir`` reads the folder (`sat.dl3.index`).

The publishing side, for the tests and for CTAO sites:

- ``sat/archive/dachs/dl3.rd``: a GAVO DaCHS resource descriptor that publishes GADF
  DL3 folders as ObsCore collections with access URLs and DataLink.
- `sat.archive.publish`: a private PostgreSQL + DaCHS on 127.0.0.1 serving DL3
  folders (``ctao-sat archive serve``, ``nox -s archive``, the test fixture).
- `sat.archive.install`: the Debian packages DaCHS needs, and their installation.

Importing this package is cheap: the modules import pyvo, astropy and friends
inside their functions.

Examples
--------
A query, as ``ctao-sat archive search --target crab --energy-min 1`` builds it
(`sat.archive.query.search` runs it on a TAP service, `sat.archive.fetch.fetch`
downloads what it finds):

>>> from sat.archive.query import ObsQuery
>>> query = ObsQuery(target="crab", energy_min=1.0)
>>> query.describe()
"target 'crab', energy 1.0 to ... TeV, dataproduct type 'event'"
>>> print(query.adql())  # doctest: +NORMALIZE_WHITESPACE
SELECT ... FROM ivoa.obscore WHERE ... AND dataproduct_type = 'event' ORDER BY
obs_collection, t_min
"""
