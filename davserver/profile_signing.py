"""Signing the Apple configuration profile (CMS SignedData, the content attached).

An unsigned profile installs too, but iOS and macOS mark it as unsigned; signed with a
certificate the device trusts (e.g. the server's TLS certificate from a public CA) it shows
as verified. The admin configures `profile.signing_certificate` (PEM, the signer
first, then any intermediates) and `profile.signing_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7


class SigningError(ValueError):
    """The configured certificate or key cannot sign profiles; the message says why."""


@dataclass(frozen=True)
class ProfileSigner:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def from_files(cls, certificate: str | Path, key: str | Path) -> ProfileSigner:
        """Load and check the pair (readable PEM, key belongs to the first certificate)."""
        try:
            certificates = x509.load_pem_x509_certificates(Path(certificate).read_bytes())
        except (OSError, ValueError):
            raise SigningError("profile.signing_certificate: not a readable PEM certificate") from None
        try:
            private_key = serialization.load_pem_private_key(Path(key).read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            raise SigningError("profile.signing_key: not a readable, unencrypted PEM private key") from None
        if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningError("profile.signing_key: only RSA and EC keys can sign profiles")
        signer, *chain = certificates
        public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if signer.public_key().public_bytes(*public) != private_key.public_key().public_bytes(*public):
            raise SigningError("profile.signing_key: does not belong to profile.signing_certificate")
        return cls(signer, tuple(chain), private_key)

    def sign(self, data: bytes) -> bytes:
        """DER-encoded CMS SignedData with `data` inside, as iOS and macOS expect it."""
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(data)
            .add_signer(self.certificate, self.key, hashes.SHA256())
        )
        for certificate in self.chain:
            builder = builder.add_certificate(certificate)
        return builder.sign(serialization.Encoding.DER, [])
