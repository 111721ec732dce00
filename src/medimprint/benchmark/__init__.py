"""Benchmarks with known answers: the demo's phantom CT slices, real slices split into the task's
folder layout, and the small generator families trained on them.

Modules: `phantom` (procedural CT-like slices), `slices` (real slices and their meta), `split`
(membership pools by whole groups), `layout` (the task's folders), `generators` (the
generator families: training, sampling, checkpoints) and `generator_networks` (their networks).
"""
