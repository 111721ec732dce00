"""A dataset as the workflow reads it: image folders ingested into a validated manifest, and the
groups (patients, series, neighbouring slices) of its real images.

Modules: `validation` (folders checked and ingested), `manifest` (the manifest API), `groups`
(group files, patterns, and the segments groups are estimated from).
"""

from medimprint._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "groups": [
            "read_group_file",
            "image_aliases",
            "pattern_groups",
            "load_pixels",
            "segment_levels",
            "level_keys",
            "given_groups",
            "groups_by_id",
            "read_groups",
        ],
        "manifest": [
            "file_name",
            "write_manifest",
            "read_manifest",
            "load_images",
            "image_chunks",
            "image_size",
            "size_text",
        ],
        "validation": ["ingest", "dataset_files", "files_digest", "label_file"],
    },
)
