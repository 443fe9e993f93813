//! Authentication: OAuth 2.0 bearer JWTs, as Microsoft Entra issues them.
//!
//! HS256 with a configured secret, and RS256/ES256 against the keys of a JWKS file. `exp`, `iss`
//! and `aud` are required and checked; the algorithm must match the key (no `none`, no key
//! confusion). The caller is the directory user named by the `oid` claim (as Entra access tokens
//! carry it) or, failing that, `sub`.
//!
//! Partners' identity providers are trusted as a multi-tenant application trusts Entra: a token
//! signed by one of a partner's keys is accepted when its `iss` is that partner's issuer, where
//! `{tenantid}` stands for the token's `tid` (`https://login.microsoftonline.com/{tenantid}/v2.0`).
//! Such a token names someone from another organization: its `tid`, its user's id and e-mail
//! address ([`PartnerIdentity`]). Which key signed a token decides which issuer it must carry, so
//! a partner's key cannot vouch for this server's own users, nor this server's key for a partner's.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How tokens are checked.
#[derive(Clone, Default)]
pub struct AuthSettings {
    /// The shared secret of HS256 tokens.
    pub hs256_secret: Option<String>,
    /// Public keys for RS256 and ES256 tokens.
    pub jwks: Option<JwkSet>,
    pub issuer: String,
    pub audience: String,
    /// Partners' identity providers whose users may sign in.
    pub partners: Vec<PartnerTrust>,
}

/// A partner's identity provider: its issuer (`{tenantid}` standing for the token's `tid`) and
/// the public keys it signs with.
#[derive(Clone, Debug)]
pub struct PartnerTrust {
    pub issuer: String,
    pub jwks: JwkSet,
}

/// Who a partner's token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerIdentity {
    /// The token's issuer.
    pub issuer: String,
    /// Their home tenant (`tid`), when the token has one.
    pub tenant_id: Option<String>,
    /// Their e-mail address (`email`, else a `preferred_username` that is one), lower-cased.
    pub email: String,
    pub name: Option<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_keys", &self.jwks.as_ref().map(|k| k.keys.len()))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("partners", &self.partners.iter().map(|p| &p.issuer).collect::<Vec<_>>())
            .finish()
    }
}

/// Why a token was refused. Each maps to 401 (HTTP) or 4403 (WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token names no user of this directory")]
    UnknownUser,
    /// The directory could not be read to resolve the caller: not the caller's fault.
    #[error("the directory is unavailable; retry shortly")]
    Unavailable,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The directory user's object id (for a partner's token, the user's id at the partner).
    pub user_id: String,
    /// Seconds since the epoch when the token stops being valid.
    pub expires_at: i64,
    /// Set when a partner's identity provider issued the token.
    pub partner: Option<PartnerIdentity>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    iss: String,
    aud: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
    /// The partner whose key this is (an index into the settings' partners); `None`: ours.
    partner: Option<usize>,
}

/// Checks tokens against the configured keys.
pub struct Authenticator {
    settings: AuthSettings,
    hs256: Option<(EncodingKey, DecodingKey)>,
    public: Vec<PublicKey>,
}

impl Authenticator {
    /// Prepares the keys; fails on an unusable key or when no key is configured.
    pub fn new(settings: AuthSettings) -> Result<Self, AuthError> {
        let hs256 = settings
            .hs256_secret
            .as_ref()
            .map(|s| (EncodingKey::from_secret(s.as_bytes()), DecodingKey::from_secret(s.as_bytes())));
        if let Some(secret) = &settings.hs256_secret
            && secret.len() < 32
        {
            return Err(AuthError::Invalid("the HS256 secret must be at least 32 bytes".into()));
        }
        let mut public = Vec::new();
        let ours = settings.jwks.iter().flat_map(|set| set.keys.iter()).map(|k| (k, None));
        let partners = settings
            .partners
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.jwks.keys.iter().map(move |k| (k, Some(i))));
        for (jwk, partner) in ours.chain(partners) {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthError::Invalid(format!("unusable JWKS key: {e}")))?;
            public.push(PublicKey { kid: jwk.common.key_id.clone(), algorithm, key, partner });
        }
        if hs256.is_none() && !public.iter().any(|k| k.partner.is_none()) {
            return Err(AuthError::Invalid("no HS256 secret and no RS256/ES256 key configured".into()));
        }
        Ok(Self { settings, hs256, public })
    }

    /// Reads a JWKS file.
    pub fn read_jwks(path: &Path) -> Result<JwkSet, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Invalid(format!("cannot read `{}`: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| AuthError::Invalid(format!("`{}` is not a JWKS: {e}", path.display())))
    }

    /// Verifies a token: signature with a key of the algorithm it names, `exp`, `aud`, and `iss`:
    /// ours for our keys, the partner's for a partner's key.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let candidates: Vec<(&DecodingKey, Option<usize>)> = match header.alg {
            Algorithm::HS256 => self.hs256.iter().map(|(_, d)| (d, None)).collect(),
            Algorithm::RS256 | Algorithm::ES256 => self
                .public
                .iter()
                .filter(|k| k.algorithm == header.alg)
                .filter(|k| header.kid.is_none() || k.kid == header.kid)
                .map(|k| (&k.key, k.partner))
                .collect(),
            other => return Err(AuthError::Invalid(format!("algorithm {other:?} is not accepted"))),
        };
        if candidates.is_empty() {
            return Err(AuthError::Invalid(format!("no key for algorithm {:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let mut refusal = AuthError::Invalid("no key verifies the token's signature".into());
        for (key, partner) in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.accept(data.claims, partner),
                Err(e) => {
                    let kind = e.kind().clone();
                    refusal = match kind {
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                        _ => AuthError::Invalid(e.to_string()),
                    };
                    if !matches!(kind, jsonwebtoken::errors::ErrorKind::InvalidSignature) {
                        break;
                    }
                }
            }
        }
        Err(refusal)
    }

    /// Checks the issuer against the trust of the key that verified the token.
    fn accept(&self, claims: Claims, partner: Option<usize>) -> Result<Verified, AuthError> {
        let user_id = claims
            .oid
            .clone()
            .or(claims.sub.clone())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AuthError::Invalid("the token has neither `oid` nor `sub`".into()))?;
        let untrusted = || AuthError::Invalid(format!("the issuer `{}` is not trusted", claims.iss));
        let Some(index) = partner else {
            if claims.iss != self.settings.issuer {
                return Err(untrusted());
            }
            return Ok(Verified { user_id, expires_at: claims.exp, partner: None });
        };
        let trust = &self.settings.partners[index];
        let tenant_id =
            claims.tid.as_deref().map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty());
        let expected = match (&tenant_id, trust.issuer.contains("{tenantid}")) {
            (Some(t), true) => trust.issuer.replace("{tenantid}", t),
            (None, true) => {
                return Err(AuthError::Invalid("the partner's token has no tenant (`tid`)".into()));
            }
            (_, false) => trust.issuer.clone(),
        };
        if claims.iss != expected {
            return Err(untrusted());
        }
        let email = claims
            .email
            .or(claims.preferred_username.filter(|u| u.contains('@')))
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'))
            .ok_or_else(|| {
                AuthError::Invalid("a partner's token must carry the user's e-mail address (`email`)".into())
            })?;
        Ok(Verified {
            user_id,
            expires_at: claims.exp,
            partner: Some(PartnerIdentity { issuer: claims.iss, tenant_id, email, name: claims.name }),
        })
    }

    /// Mints an HS256 token for a user, valid `ttl_seconds` from `now` (seconds since the epoch).
    pub fn mint(&self, user_id: &str, now: i64, ttl_seconds: i64) -> Result<String, AuthError> {
        let Some((key, _)) = &self.hs256 else {
            return Err(AuthError::Invalid("minting needs an HS256 secret".into()));
        };
        let claims = Claims {
            oid: Some(user_id.to_owned()),
            sub: Some(user_id.to_owned()),
            exp: now + ttl_seconds,
            iat: Some(now),
            iss: self.settings.issuer.clone(),
            aud: serde_json::Value::String(self.settings.audience.clone()),
            tid: None,
            email: None,
            preferred_username: None,
            name: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
#[must_use]
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        Authenticator::new(AuthSettings {
            hs256_secret: Some("0123456789abcdef0123456789abcdef".into()),
            jwks: None,
            issuer: "em-api".into(),
            audience: "em-api".into(),
            partners: Vec::new(),
        })
        .unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    #[test]
    fn minted_tokens_verify_as_their_user() {
        let auth = authenticator();
        let token = auth.mint("u1", now(), 3600).unwrap();
        assert_eq!(auth.verify(&token).unwrap().user_id, "u1");
    }

    #[test]
    fn expired_tokens_are_refused() {
        let auth = authenticator();
        let token = auth.mint("u1", now() - 7200, 3600).unwrap();
        assert_eq!(auth.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn wrong_audience_issuer_or_key_is_refused() {
        let auth = authenticator();
        let other =
            Authenticator::new(AuthSettings { audience: "graph".into(), ..auth.settings.clone() }).unwrap();
        assert!(matches!(auth.verify(&other.mint("u1", now(), 60).unwrap()), Err(AuthError::Invalid(_))));
        let other =
            Authenticator::new(AuthSettings { issuer: "evil".into(), ..auth.settings.clone() }).unwrap();
        assert!(matches!(auth.verify(&other.mint("u1", now(), 60).unwrap()), Err(AuthError::Invalid(_))));
        let other = Authenticator::new(AuthSettings {
            hs256_secret: Some("another secret of thirty-two bytes!".into()),
            ..auth.settings.clone()
        })
        .unwrap();
        assert!(matches!(auth.verify(&other.mint("u1", now(), 60).unwrap()), Err(AuthError::Invalid(_))));
        assert!(matches!(auth.verify("not.a.token"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        // {"alg":"none"} . {"oid":"u1","exp":9999999999,"iss":"em-api","aud":"em-api"} .
        let token = "eyJhbGciOiJub25lIn0.eyJvaWQiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OSwiaXNzIjoiZW0tYXBpIiwiYXVkIjoiZW0tYXBpIn0.";
        assert!(authenticator().verify(token).is_err());
    }

    #[test]
    fn bearer_headers_are_parsed() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
