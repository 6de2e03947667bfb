from agents.ratelimit import Bucket, take


def test_a_new_workspace_can_burst_up_to_the_bucket_size_without_waiting():
    bucket = Bucket.from_json(None, burst=100, now=0.0)
    bucket, wait = take(bucket, 100, now=0.0, rate=10, burst=100)
    assert wait == 0
    assert bucket.tokens == 0


def test_over_the_limit_mail_is_delayed_by_the_debt_not_dropped():
    bucket = Bucket(tokens=0, updated_at=0.0)
    bucket, wait = take(bucket, 50, now=0.0, rate=10, burst=100)
    assert wait == 5.0  # 50 tokens at 10/s
    # the next taker queues behind that debt
    _, wait2 = take(bucket, 10, now=0.0, rate=10, burst=100)
    assert wait2 == 6.0


def test_tokens_refill_with_time_but_never_past_the_burst():
    bucket = Bucket(tokens=0, updated_at=0.0)
    bucket, wait = take(bucket, 1, now=1000.0, rate=10, burst=100)
    assert wait == 0
    assert bucket.tokens == 99


def test_a_clock_stepping_backwards_refills_nothing():
    bucket = Bucket(tokens=5, updated_at=100.0)
    bucket, _ = take(bucket, 1, now=50.0, rate=10, burst=100)
    assert bucket.tokens == 4


def test_bucket_round_trips_through_its_table_value():
    bucket = Bucket(tokens=3.5, updated_at=12.0)
    assert Bucket.from_json(bucket.to_json(), burst=100, now=99.0) == bucket
