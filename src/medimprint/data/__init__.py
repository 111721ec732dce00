"""A dataset as the workflow reads it: image folders ingested into a validated manifest, and the
groups (patients, series, neighbouring slices) of its real images.

Modules: `validation` (folders checked and ingested), `manifest` (the manifest API), `views`
(the manifest as each analysis reads it), `groups`
(group files, patterns, and the segments groups are estimated from).
"""
