#!/usr/bin/env python3
"""PAdES B-LTA validation of a proof, with revocation information required and nothing fetched.

Usage: python3 validate_lta.py PROOF.pdf ROOT.pem [CRL.der ...]
Needs pyHanko only (`pip install pyhanko`), none of Wassit's code.  Exits 0 when the proof is valid.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from asn1crypto import crl, pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer


def main(proof: str, root: str, crls: list[str]) -> int:
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(
                    trust_roots=[x509.Certificate.load(pem.unarmor(Path(root).read_bytes())[2])]
                ),
                revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
            local_knowledge=LocalKnowledge(
                known_crls=[CRLContainer(crl.CertificateList.load(Path(f).read_bytes())) for f in crls]
            ),
        )
    )
    with Path(proof).open("rb") as handle:
        [seal] = PdfFileReader(handle).embedded_regular_signatures
        result = asyncio.run(ades_lta_validation(seal, spec))
    if result.api_status is not None:
        print(result.api_status.pretty_print_details())
    valid = str(result.ades_subindic).endswith("OK") and result.oldest_evidence_record_timestamp is not None
    verdict = "VALID" if valid else f"NOT VALID ({result.failure_msg})"
    print("PAdES B-LTA:", verdict, "- proven to exist at", result.best_signature_time)
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
