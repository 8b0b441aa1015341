"""A boleto's payment id: the same payment, however the bank reports it (a CNAB retorno's line, its
webhook confirmed with its API), gets the same id — and the id of payments already recorded never
changes, or a return file imported again would record them twice."""
from datetime import date

from chalicelib.services.payments import bank_payment_id


def test_the_nosso_numero_as_a_return_file_pads_it_and_as_the_banks_api_names_it_give_one_id():
    padded = bank_payment_id("001", "00012345670000000042   ", date(2026, 11, 23), 123456)
    assert padded == bank_payment_id("001", "12345670000000042", date(2026, 11, 23), 123456)
    assert padded == bank_payment_id("001", "1234567000000004-2", date(2026, 11, 23), 123456)


def test_the_id_is_the_one_return_files_gave_before_the_webhook_shared_it():
    # Computed by bank_returns.payment_id as it stood before (bank, nosso número digits, day, amount).
    assert bank_payment_id("001", "00012345670000000042   ", date(2026, 11, 23), 123456) == \
        "fb1280e01f2db137153ee27fdbb3eaf85e683fde417e7eda709ec2ebcb87a189"


def test_another_bank_day_or_amount_is_another_payment():
    one = bank_payment_id("001", "12345670000000042", date(2026, 11, 23), 123456)
    assert len({one, bank_payment_id("341", "12345670000000042", date(2026, 11, 23), 123456),
                bank_payment_id("001", "12345670000000043", date(2026, 11, 23), 123456),
                bank_payment_id("001", "12345670000000042", date(2026, 11, 24), 123456),
                bank_payment_id("001", "12345670000000042", date(2026, 11, 23), 123457)}) == 5
