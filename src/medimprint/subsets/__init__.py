"""Training-subset identification (the task's 2025 sub-task 2): which real training subset the
generator of each unknown generated image learned, from labelled generated images and the real
subsets themselves."""
