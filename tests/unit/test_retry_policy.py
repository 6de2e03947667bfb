from agents.retry_policy import plan_retry

SCHEDULE = (60.0, 300.0, 3600.0)
DAY = 86400.0


def test_each_attempt_waits_longer_until_the_last_step_of_the_schedule():
    plans = [
        plan_retry(attempt=a, accepted_at=0, now=0, schedule=SCHEDULE, lifetime=3 * DAY)
        for a in range(5)
    ]
    assert [p.due_at for p in plans if p] == [60.0, 300.0, 3600.0, 3600.0, 3600.0]
    assert [p.tier for p in plans if p] == [0, 1, 2, 2, 2]


def test_a_retry_past_the_lifetime_is_not_planned_the_delivery_fails():
    plan = plan_retry(
        attempt=7, accepted_at=0, now=3 * DAY - 10, schedule=SCHEDULE, lifetime=3 * DAY
    )
    assert plan is None


def test_a_retry_just_inside_the_lifetime_is_planned():
    plan = plan_retry(
        attempt=7, accepted_at=0, now=3 * DAY - 3600, schedule=SCHEDULE, lifetime=3 * DAY
    )
    assert plan is not None and plan.due_at == 3 * DAY


def test_no_schedule_means_no_retry():
    assert plan_retry(attempt=0, accepted_at=0, now=0, schedule=(), lifetime=DAY) is None
