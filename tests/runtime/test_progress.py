"""Progress lines: rate, time left, and no flood of lines."""

from medimprint.runtime.progress import Progress, duration


def test_progress_logs_rate_and_time_left_at_most_every_period():
    now = [0.0]
    lines: list[str] = []
    progress = Progress(100, "images", log=lines.append, every=10, clock=lambda: now[0])
    for _ in range(50):  # 50 images in 5 s: too soon for a line
        now[0] += 0.1
        progress.step()
    assert lines == []
    now[0] = 10.0  # 10 s after the start
    progress.step(10)
    assert lines == ["60/100 images (6.0 images/s, 10s so far, ~7s left)"]
    now[0] = 11.0
    progress.step(40, detail="loss 0.1")  # the last unit always logs
    assert lines[-1] == "100/100 images (9.1 images/s, 11s so far, done): loss 0.1"


def test_slow_units_show_seconds_each_and_epochs_log_every_step():
    now = [0.0]
    lines: list[str] = []
    progress = Progress(60, "epochs", log=lines.append, every=0, clock=lambda: now[0])
    now[0] = 140.0
    progress.step(detail="val loss 0.01")
    assert lines == ["1/60 epochs (140.0 s each, 2m20s so far, ~2h17m left): val loss 0.01"]
    assert duration(59.6) == "1m00s" and duration(3) == "3s"
