"""The contract's text filled with the organisation's data and its items at their monthly prices;
the second copy's fine and interest, part by part, add up to the late amount."""
from chalicelib.domain import boleto
from chalicelib.domain import contract_document as rules

TEXT = {"version": "9.1", "title": "Contrato",
        "sections": [{"heading": "1. Partes", "paragraphs": ["{organizacao}, CNPJ {cnpj}, fecha no dia {fechamento}, "
                                                               "paga por {pagamento}; {desconhecido} fica."]}]}


def test_the_text_is_filled_and_items_at_zero_are_left_out():
    doc = rules.build(TEXT, organization_name="Padaria Ltda", cnpj="11222333000181", closing_day=20,
                      payment_method="deposito",
                      items=[rules.DocumentItem("A", "Produto A", 3, 1000), rules.DocumentItem("B", "Produto B", 0, 500),
                             rules.DocumentItem("C", "Sem preço", 2, None)])
    assert doc["version"] == "9.1"
    assert doc["sections"][0]["paragraphs"] == [
        "Padaria Ltda, CNPJ 11.222.333/0001-81, fecha no dia 20, paga por depósito bancário; {desconhecido} fica."]
    assert [i["sku"] for i in doc["items"]] == ["A", "C"]
    assert doc["items"][0]["monthly_cents"] == 3000 and doc["items"][1]["monthly_cents"] is None
    assert doc["total_monthly_cents"] == 3000


def test_fine_and_interest_add_up_to_the_late_amount():
    for amount, days in ((144390, 8), (100, 1), (12345, 45), (5000, 0)):
        fine, interest = boleto.late_charges(amount, days)
        assert amount + fine + interest == boleto.late_amount(amount, days)
    assert boleto.late_charges(5000, 0) == (0, 0)
