"""``heatpump-monitor import-upstream``: the old collector's history, aligned, into our store.

The upstream collectors (dsjodin/heatpump, MQTT and API alike) write a *tall* schema: one point
per register per message, each at its own moment -- measurement ``heatpump``, tags
``register_id``, ``name``, ``type``, ``unit``, one field ``value`` already in real units. This
stage reads it and writes what our collectors write: one snapshot per grid tick.

Rules, each stated once elsewhere and reused here:

* **reading** (:mod:`.source`): InfluxQL over ``/query`` of InfluxDB 1.x, or of 2.x's
  v1-compatible API with ``Authorization: Token`` (the bucket needs a DBRP mapping), one chunk of
  time at a time (``--chunk``, default a day) so memory is bounded by a chunk's points; a chunk
  the server truncates (``max-row-limit``) is read again in halves;
* **alignment** (:mod:`.align`): the MQTT collector's own :class:`Snapshotter`, fed each point
  as a message at the point's moment: tick ``T`` (multiples of ``COLLECTION_INTERVAL`` since the
  epoch) holds each register's latest value from points before ``T``; no snapshot while the old
  data is silent for longer than ``MQTT_SILENT_LIMIT``, and held values are forgotten after twice
  that -- a gap stays a gap;
* **registers**: matched by ``register_id`` to the brand's provider (with ``CONFIG_FILE``'s
  overrides, as the collector); values are taken as scaled (the provider's plausibility and
  "no sensor" checks still apply); ``--rescale ID=FACTOR`` multiplies one register's values
  first (for factors the old collector had wrong); ids the provider does not know are counted
  and reported, and stored as ``reg_<id>`` only with ``STORE_UNKNOWN_REGISTERS=true``;
* **writing**: through the store the variables select (``make_sink``, as the collector), tagged
  ``source=import`` (``--source``). Stores overwrite a (gateway, source, time), so running the
  import again writes the same points over themselves and changes nothing;
* **resuming** (:mod:`.checkpoint`): after each chunk is written, ``DATA_DIR/import-<hash>.json``
  records its end and the aligner's state (held values, counters); the next run continues there
  with the same state, so an interrupted import ends exactly as an uninterrupted one. No secret
  is in it or in its name; ``--restart`` ignores it;
* **secrets**: the password and token come only from environment variables named by
  ``--from-password-env`` / ``--from-token-env`` or a prompt on a terminal, and never appear in
  any output; every failure is one ``error:`` line and exit status 1.
"""
