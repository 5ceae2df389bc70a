<?xml version="1.0" encoding="utf-8"?>
<!-- GADF DL3 runs as an IVOA ObsCore collection (GAVO DaCHS resource descriptor).

Every folder data/COLLECTION/ below this RD's resource directory that holds a GADF
obs-index.fits.gz and hdu-index.fits.gz (a Gammapy DataStore folder) becomes the
ObsCore collection COLLECTION: one row per run, dataproduct_type 'event',
calib_level 2, access_url the file holding the run's EVENTS HDU (served by DaCHS,
with DataLink). A folder may be a symbolic link to the real data.

  em_min/em_max  metres, hc/E: 1.23984198e-18 / E[TeV]; from the obs-index
                 SAFE_ENERGY_LO/HI when present, else the effective area's
                 true-energy range
  t_min/t_max    MJD (the files' time scale, TT for H.E.S.S.)
  s_ra/s_dec     the pointing position; s_fov twice the largest offset of the
                 effective area; s_region that circle
  target_name    obs-index TARGET_NAME, else OBJECT
  t_exptime      LIVETIME (s)

Publish: dachs imp //obscore; dachs imp RESDIR/q  (sat.archive.publish does it).
-->
<resource schema="ctao_dl3">
  <meta name="title">CTAO SAT test archive: GADF DL3 runs</meta>
  <meta name="description">
    IACT DL3 event lists with their instrument response functions (GADF
    format), one ObsCore row per observation run, for searching and
    fetching with TAP/ObsCore and DataLink.
  </meta>
  <meta name="creationDate">2026-11-27T00:00:00Z</meta>
  <meta name="subject">gamma-ray astronomy</meta>
  <meta name="subject">Cherenkov telescopes</meta>
  <meta name="creator.name">CTAO SAT developers</meta>
  <meta name="contentLevel">Research</meta>
  <meta name="type">Archive</meta>
  <meta name="facility">CTAO</meta>

  <table id="runs" onDisk="True" adql="True" primary="collection,obs_id">
    <meta name="description">One row per DL3 run of every published
      collection (the GADF obs-index, joined with the file of the run).</meta>
    <mixin>//products#table</mixin>
    <mixin
      productType="'event'"
      calibLevel="2"
      collectionName="collection"
      obsId="CAST(obs_id AS text)"
      title="title"
      targetName="target_name"
      expTime="livetime"
      facilityName="facility"
      instrumentName="instrument"
      ra="ra_pnt"
      dec="dec_pnt"
      fov="fov"
      coverage="coverage"
      tMin="t_min"
      tMax="t_max"
      emMin="1.23984198e-18 / e_max"
      emMax="1.23984198e-18 / e_min"
      oUCD="'phot.count'"
      preview="NULL"
      >//obscore#publish</mixin>

    <column name="collection" type="text" ucd="meta.id;meta.dataset"
      description="Collection: the name of the published folder"/>
    <column name="obs_id" type="bigint" ucd="meta.id;obs" required="True"
      description="Observation (run) id, OBS_ID of the obs-index"/>
    <column name="title" type="text" ucd="meta.title"
      description="Human-readable title of the run"/>
    <column name="target_name" type="text" ucd="meta.id;src"
      description="Target: TARGET_NAME of the obs-index, else OBJECT"/>
    <column name="ra_pnt" type="double precision" unit="deg"
      ucd="pos.eq.ra;instr.pointing" description="Pointing RA (ICRS)"/>
    <column name="dec_pnt" type="double precision" unit="deg"
      ucd="pos.eq.dec;instr.pointing" description="Pointing Dec (ICRS)"/>
    <column name="ra_obj" type="double precision" unit="deg"
      ucd="pos.eq.ra;src" description="Target RA (ICRS), RA_OBJ"/>
    <column name="dec_obj" type="double precision" unit="deg"
      ucd="pos.eq.dec;src" description="Target Dec (ICRS), DEC_OBJ"/>
    <column name="fov" type="real" unit="deg" ucd="phys.angSize;instr.fov"
      description="Diameter of the field with IRFs (twice the largest
        offset of the effective area)"/>
    <column name="coverage" type="spoly" unit="deg" ucd="pos.outline;obs.field"
      description="Field of view (the circle of diameter fov)"/>
    <column name="t_min" type="double precision" unit="d"
      ucd="time.start;obs.exposure" description="Run start (MJD)"/>
    <column name="t_max" type="double precision" unit="d"
      ucd="time.end;obs.exposure" description="Run end (MJD)"/>
    <column name="livetime" type="double precision" unit="s"
      ucd="time.duration;obs.exposure" description="Live time"/>
    <column name="e_min" type="double precision" unit="TeV"
      ucd="em.energy;stat.min" description="Lowest energy of the run"/>
    <column name="e_max" type="double precision" unit="TeV"
      ucd="em.energy;stat.max" description="Highest energy of the run"/>
    <column name="facility" type="text" ucd="instr.tel"
      description="Observatory (TELESCOP)"/>
    <column name="instrument" type="text" ucd="instr"
      description="Instrument (INSTRUME)"/>
  </table>

  <data id="import">
    <sources pattern="data/*/obs-index.fits.gz"/>
    <embeddedGrammar>
      <iterator>
        <setup imports="os">
          <code>
            from gavo.utils import pyfits

            def header_value(header, key, default=None):
              value = header.get(key, default)
              return value.strip() if isinstance(value, str) else value

            def text(value):
              if isinstance(value, bytes):
                value = value.decode("ascii", "replace")
              return str(value).strip()

            def run_files(folder):
              """obs_id -> (file holding EVENTS, largest effective-area offset)."""
              with pyfits.open(os.path.join(folder, "hdu-index.fits.gz")) as hdus:
                table = hdus[1].data
                names = table.columns.names
                files = {}
                for row in table:
                  if text(row["HDU_TYPE"]).lower() == "events":
                    files[int(row["OBS_ID"])] = os.path.normpath(os.path.join(
                      folder, text(row["FILE_DIR"]), text(row["FILE_NAME"])))
              return files

            def irf_ranges(path):
              """(largest offset in deg, lowest and highest true energy in TeV)."""
              with pyfits.open(path) as hdus:
                for hdu in hdus[1:]:
                  if header_value(hdu.header, "HDUCLAS2") == "EFF_AREA":
                    data = hdu.data
                    offset = float(data["THETA_HI"].max())
                    return (offset, float(data["ENERG_LO"].min()),
                      float(data["ENERG_HI"].max()))
              return None, None, None

            def events_header(path):
              with pyfits.open(path) as hdus:
                return hdus["EVENTS"].header.copy()
          </code>
        </setup>
        <code>
          index_path = self.sourceToken
          folder = os.path.dirname(index_path)
          collection = os.path.basename(folder)
          inputs = base.getConfig("inputsDir")
          files = run_files(folder)
          with pyfits.open(index_path) as hdus:
            index = hdus[1]
            meta = index.header
            table = index.data
            names = table.columns.names
            for row in table:
              obs_id = int(row["OBS_ID"])
              path = files[obs_id]
              header = events_header(path)
              mjdref = (float(header_value(header, "MJDREFI",
                meta.get("MJDREFI", 0)))
                + float(header_value(header, "MJDREFF", meta.get("MJDREFF", 0))))
              offset, e_lo, e_hi = irf_ranges(path)
              if "SAFE_ENERGY_LO" in names:
                e_lo = float(row["SAFE_ENERGY_LO"])
                e_hi = float(row["SAFE_ENERGY_HI"])
              if "TARGET_NAME" in names:
                target = text(row["TARGET_NAME"])
              else:
                target = text(row["OBJECT"])
              yield {
                "collection": collection,
                "obs_id": obs_id,
                "title": "%s: run %d of %s" % (target, obs_id, collection),
                "target_name": target,
                "ra_pnt": float(row["RA_PNT"]),
                "dec_pnt": float(row["DEC_PNT"]),
                "ra_obj": float(header_value(header, "RA_OBJ", row["RA_OBJ"])),
                "dec_obj": float(header_value(header, "DEC_OBJ", row["DEC_OBJ"])),
                "fov": 2 * offset if offset else None,
                "t_min": mjdref + float(row["TSTART"]) / 86400,
                "t_max": mjdref + float(row["TSTOP"]) / 86400,
                "livetime": float(row["LIVETIME"]),
                "e_min": e_lo,
                "e_max": e_hi,
                "facility": header_value(header, "TELESCOP"),
                "instrument": header_value(header, "INSTRUME"),
                "accref": os.path.relpath(path, inputs),
                "fsize": os.path.getsize(path),
              }
        </code>
      </iterator>
      <rowfilter procDef="//products#define">
        <bind key="table">"\schema.runs"</bind>
        <bind key="accref">@accref</bind>
        <bind key="path">@accref</bind>
        <bind key="fsize">@fsize</bind>
        <bind key="mime">"application/fits"</bind>
        <bind key="preview">None</bind>
      </rowfilter>
    </embeddedGrammar>

    <make table="runs">
      <rowmaker idmaps="*">
        <map key="coverage">(None if @fov is None else pgsphere.SCircle(
          pgsphere.SPoint.fromDegrees(@ra_pnt, @dec_pnt),
          math.radians(@fov / 2)).asPoly(16))</map>
      </rowmaker>
    </make>
  </data>
</resource>
