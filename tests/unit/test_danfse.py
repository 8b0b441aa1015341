"""The DANFSe read back as a person reads it: the text pdftotext finds in the PDF (the access key,
the number, the parties' CNPJs punctuated, the amounts in pt-BR, every block of the national
layout) and the QR code a phone scans (zbarimg), from nfelib's sample NFS-e and from a note like
the ones this product emits."""
import os
import shutil
import subprocess

import pytest

from chalicelib.rendering.danfse import HOMOLOGATION_MARK, PUBLIC_QUERY_URL, danfse_pdf

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")

KEY = "35503082211222333000181000000000012326110000000017"

# A note as the product emits it: the reseller in São Paulo, a customer with its CNPJ and address,
# ISS 2.90 % not withheld, the invoice's text in the complementary information. The customer typed
# markup and an ampersand into its name; the XML carries them escaped.
PRODUCT_NOTE = f"""<?xml version="1.0" encoding="utf-8"?>
<NFSe versao="1.01" xmlns="http://www.sped.fazenda.gov.br/nfse">
  <infNFSe Id="NFS{KEY}">
    <xLocEmi>São Paulo</xLocEmi>
    <xLocPrestacao>São Paulo</xLocPrestacao>
    <nNFSe>123</nNFSe>
    <cLocIncid>3550308</cLocIncid>
    <xLocIncid>São Paulo</xLocIncid>
    <xTribNac>Licenciamento ou cessão de direito de uso de programas de computação.</xTribNac>
    <verAplic>SefinNac_1.5.0</verAplic>
    <ambGer>2</ambGer>
    <tpEmis>1</tpEmis>
    <procEmi>1</procEmi>
    <cStat>100</cStat>
    <dhProc>2026-11-11T12:00:05-03:00</dhProc>
    <nDFSe>98765</nDFSe>
    <emit>
      <CNPJ>11222333000181</CNPJ>
      <IM>12345678</IM>
      <xNome>BRASOFTWARE INFORMATICA LTDA</xNome>
      <enderNac>
        <xLgr>AVENIDA PAULISTA</xLgr>
        <nro>1000</nro>
        <xBairro>BELA VISTA</xBairro>
        <cMun>3550308</cMun>
        <UF>SP</UF>
        <CEP>01310100</CEP>
      </enderNac>
      <fone>1133334444</fone>
      <email>fiscal@brasoftware.example</email>
    </emit>
    <valores>
      <vBC>12345.67</vBC>
      <pAliqAplic>2.90</pAliqAplic>
      <vISSQN>358.02</vISSQN>
      <vLiq>12345.67</vLiq>
    </valores>
    <DPS versao="1.01">
      <infDPS Id="DPS355030821122233300018100001000000000000123">
        <tpAmb>1</tpAmb>
        <dhEmi>2026-11-11T12:00:00-03:00</dhEmi>
        <verAplic>csp-portal-1</verAplic>
        <serie>1</serie>
        <nDPS>123</nDPS>
        <dCompet>2026-11-11</dCompet>
        <tpEmit>1</tpEmit>
        <cLocEmi>3550308</cLocEmi>
        <prest>
          <CNPJ>11222333000181</CNPJ>
          <IM>12345678</IM>
          <regTrib>
            <opSimpNac>1</opSimpNac>
            <regEspTrib>0</regEspTrib>
          </regTrib>
        </prest>
        <toma>
          <CNPJ>00000000000191</CNPJ>
          <xNome>Cliente &lt;b&gt;Ácme&lt;/b&gt; &amp; Filhos &amp;amp; Cia LTDA</xNome>
          <end>
            <endNac>
              <cMun>3550308</cMun>
              <CEP>04538133</CEP>
            </endNac>
            <xLgr>AVENIDA BRIGADEIRO FARIA LIMA</xLgr>
            <nro>3477</nro>
            <xCpl>ANDAR 10</xCpl>
            <xBairro>ITAIM BIBI</xBairro>
          </end>
          <email>financeiro@acme.example</email>
        </toma>
        <serv>
          <locPrest>
            <cLocPrestacao>3550308</cLocPrestacao>
          </locPrest>
          <cServ>
            <cTribNac>010501</cTribNac>
            <xDescServ>Licenciamento de software Microsoft (CSP) — novembro de 2026</xDescServ>
            <cNBS>115013000</cNBS>
          </cServ>
          <infoCompl>
            <xInfComp>Fatura nº 123 &lt;script&gt; vencimento 23/11/2026</xInfComp>
          </infoCompl>
        </serv>
        <valores>
          <vServPrest>
            <vServ>12345.67</vServ>
          </vServPrest>
          <trib>
            <tribMun>
              <tribISSQN>1</tribISSQN>
              <tpRetISSQN>1</tpRetISSQN>
              <pAliq>2.90</pAliq>
            </tribMun>
            <totTrib>
              <indTotTrib>0</indTotTrib>
            </totTrib>
          </trib>
        </valores>
      </infDPS>
    </DPS>
  </infNFSe>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <Reference URI="#NFS{KEY}">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</DigestValue>
      </Reference>
    </SignedInfo>
    <SignatureValue>AAAA</SignatureValue>
    <KeyInfo><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo>
  </Signature>
</NFSe>
"""

BLOCKS = ["DANFSe — Documento Auxiliar da NFS-e", "EMITENTE DA NFS-e", "TOMADOR DO SERVIÇO",
          "INTERMEDIÁRIO DO SERVIÇO", "SERVIÇO PRESTADO", "TRIBUTAÇÃO MUNICIPAL", "TRIBUTAÇÃO FEDERAL",
          "VALOR TOTAL DA NFS-E", "INFORMAÇÕES COMPLEMENTARES"]


def sample_note() -> str:
    import nfelib

    path = os.path.join(os.path.dirname(nfelib.__file__), "nfse", "samples", "v1_0", "nfse-ibscbs.xml")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def text_of(document: bytes) -> str:
    assert document.startswith(b"%PDF")
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=document, capture_output=True,
                          check=True).stdout.decode()


def test_the_product_note_fixture_is_a_valid_nfse():
    # The fixture stands for what the Sefin returns: it must pass the national schema itself.
    from chalicelib.fiscal.schemas import validate

    assert validate(PRODUCT_NOTE, "NFSe") == []


def test_a_product_note_prints_its_key_number_parties_amounts_and_every_block():
    text = text_of(danfse_pdf(PRODUCT_NOTE, homologation=False))
    for block in BLOCKS:
        assert block in text
    assert KEY in text
    assert "Número da NFS-e" in text and "Número da DPS" in text
    assert "11.222.333/0001-81" in text  # the reseller
    assert "00.000.000/0001-91" in text  # the customer
    assert "BRASOFTWARE INFORMATICA LTDA" in text and "(11) 3333-4444" in text
    assert "AVENIDA BRIGADEIRO FARIA LIMA, 3477, ANDAR 10, ITAIM BIBI" in text and "04538-133" in text
    assert "São Paulo - SP" in text  # the taker's município by name, found among the note's places
    assert "01.05.01 - Licenciamento ou cessão" in text  # the LC 116 item punctuated, with its name
    assert "Licenciamento de software Microsoft (CSP) — novembro de 2026" in text
    # competência and the instants (already São Paulo time), in dd/mm/aaaa
    assert "11/11/2026 12:00:05" in text and "11/11/2026 12:00:00" in text
    # service, base and net value; ISS at 2,90 %, not withheld
    assert text.count("R$ 12.345,67") == 4
    assert "2,90 %" in text and "R$ 358,02" in text and text.count("R$ 358,02") == 1
    assert "Operação Tributável" in text and "Não Retido" in text
    assert "INTERMEDIÁRIO DO SERVIÇO" in text and "NÃO IDENTIFICADO NA NFS-e" in text
    assert "Fatura nº 123 <script> vencimento 23/11/2026" in text
    assert "12345.67" not in text  # never the layout's own decimal notation


def test_nfelibs_sample_note_prints_with_its_reform_taxes():
    text = text_of(danfse_pdf(sample_note(), homologation=True))
    for block in BLOCKS:
        assert block in text
    assert "42024042200000000000000000000000000126031234567892" in text
    assert "EMPRESA PRESTADORA DE TESTE LTDA" in text and "EMPRESA TOMADORA DE TESTE LTDA" in text
    assert "00.000.000/0000-00" in text
    assert "Blumenau - SC" in text and "89010-000" in text
    assert "R$ 1.000,00" in text and "2,00 %" in text and "R$ 20,00" in text
    assert "TRIBUTAÇÃO IBS / CBS" in text and "R$ 1,00" in text and "R$ 9,00" in text


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
                    reason="needs pdftoppm (poppler-utils) and zbarimg (zbar-tools): .ci/run installs them")
@pytest.mark.parametrize("homologation", [False, True])
def test_the_qr_code_scans_to_the_public_query_of_the_note(tmp_path, homologation):
    (tmp_path / "danfse.pdf").write_bytes(danfse_pdf(PRODUCT_NOTE, homologation=homologation))
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(tmp_path / "danfse.pdf"),
                    str(tmp_path / "danfse")], check=True)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", str(tmp_path / "danfse.png")],
                             capture_output=True, text=True).stdout.splitlines()
    assert scanned == [f"https://www.nfse.gov.br/ConsultaPublica/?tpc=1&chave={KEY}"]
    assert PUBLIC_QUERY_URL.format(key=KEY) == scanned[0]


def test_the_homologation_mark_appears_only_when_asked_for_a_production_note():
    assert HOMOLOGATION_MARK == "SEM VALOR FISCAL — AMBIENTE DE HOMOLOGAÇÃO"
    assert HOMOLOGATION_MARK in text_of(danfse_pdf(PRODUCT_NOTE, homologation=True))
    production = text_of(danfse_pdf(PRODUCT_NOTE, homologation=False))
    assert "SEM VALOR FISCAL" not in production and "HOMOLOGAÇÃO" not in production


def test_a_note_from_the_restricted_environment_is_marked_even_when_not_asked():
    # tpAmb 2 in the DPS: a test note must never print as one with fiscal value.
    assert HOMOLOGATION_MARK in text_of(danfse_pdf(sample_note(), homologation=False))


def test_markup_and_ampersands_the_customer_typed_print_literally():
    text = text_of(danfse_pdf(PRODUCT_NOTE, homologation=False))
    assert "Cliente <b>Ácme</b> & Filhos &amp; Cia LTDA" in text


def test_absent_taker_and_federal_taxes_print_dashes_and_not_identified():
    note = PRODUCT_NOTE[:PRODUCT_NOTE.index("<toma>")] + PRODUCT_NOTE[PRODUCT_NOTE.index("</toma>") + len("</toma>"):]
    note = note.replace("<infoCompl>", "<!--").replace("</infoCompl>", "-->")
    text = text_of(danfse_pdf(note, homologation=False))
    taker = text[text.index("TOMADOR DO SERVIÇO"):text.index("INTERMEDIÁRIO DO SERVIÇO")]
    assert "NÃO IDENTIFICADO NA NFS-e" in taker and "00.000.000/0001-91" not in text
    federal = text[text.index("TRIBUTAÇÃO FEDERAL"):text.index("VALOR TOTAL DA NFS-E")]
    assert "R$" not in federal and federal.count("-") >= 6
    complementary = text[text.index("INFORMAÇÕES COMPLEMENTARES"):]
    assert complementary.split() == ["INFORMAÇÕES", "COMPLEMENTARES", "-"]


def test_withheld_iss_and_federal_retentions_reach_the_totals():
    note = PRODUCT_NOTE.replace("<tpRetISSQN>1</tpRetISSQN>", "<tpRetISSQN>2</tpRetISSQN>").replace(
        "</tribMun>\n            <totTrib>",
        "</tribMun>\n            <tribFed><piscofins><CST>01</CST><vPis>80.25</vPis><vCofins>370.37</vCofins>"
        "<tpRetPisCofins>1</tpRetPisCofins></piscofins><vRetIRRF>185.19</vRetIRRF><vRetCSLL>123.46</vRetCSLL>"
        "</tribFed>\n            <totTrib>").replace("<vLiq>12345.67</vLiq>", "<vLiq>11228.38</vLiq>")
    from chalicelib.fiscal.schemas import validate

    assert validate(note, "NFSe") == []
    text = text_of(danfse_pdf(note, homologation=False))
    assert "Retido pelo Tomador" in text
    assert text.count("R$ 358,02") == 2  # ISSQN apurado and ISSQN retido
    # PIS 80,25 + COFINS 370,37 + CSLL 123,46 withheld; with IRRF 185,19 the federal retentions
    assert "R$ 574,08" in text and "PIS, COFINS, CSLL" in text and "R$ 759,27" in text
    assert "R$ 11.228,38" in text


def test_a_description_longer_than_a_page_flows_onto_the_next_pages_whole():
    words = " ".join(f"item{number}" for number in range(4000))
    note = PRODUCT_NOTE.replace("Licenciamento de software Microsoft (CSP) — novembro de 2026", words)
    document = danfse_pdf(note, homologation=False)
    text = text_of(document)
    assert text.count("\f") >= 2  # pdftotext ends each page with a form feed
    assert "Descrição do Serviço (continuação)" in text and "item0" in text and "item3999" in text
    assert "INFORMAÇÕES COMPLEMENTARES" in text and "VALOR TOTAL DA NFS-E" in text


def test_a_note_stripped_of_everything_but_its_key_still_renders_with_dashes():
    # Each block reads through absent groups: nothing the layout makes optional (or that a future
    # version moves) may stop the PDF.
    text = text_of(danfse_pdf(f"<NFSe xmlns='http://www.sped.fazenda.gov.br/nfse'><infNFSe Id='NFS{KEY}'/></NFSe>",
                              homologation=False))
    for block in BLOCKS:
        assert block in text
    assert KEY in text and "R$" not in text and text.count("NÃO IDENTIFICADO NA NFS-e") == 2


def test_a_document_that_is_not_an_nfse_is_refused():
    with pytest.raises(ValueError):
        danfse_pdf("<NFSe xmlns='http://www.sped.fazenda.gov.br/nfse'/>", homologation=False)
