"""Idempotent ``ensure`` steps: each kind probes the host read-only, compares what it found with
what is asked (a pure function), and acts only on the difference.

* :mod:`.base`: the shape every kind has (probe → assess → action) and what assessing says;
* :mod:`.probe`: the read-only shell text, batched so one unit's steps cost one round trip;
* :mod:`.content`: a file's bytes, inline or streamed from a local file, and their digest;
* :mod:`.write`: the atomic write every content change goes through;
* :mod:`.files` (dir, file, link, absent) and :mod:`.lines` (line, block): the kinds;
* :mod:`.templates`: Jinja2 rendering of ``template`` files;
* :mod:`.resolve`: ``nexus.toml`` steps → kinds for one unit, with its variables;
* :mod:`.execute`: running a unit's steps on a transport (the only module here doing I/O).
"""
