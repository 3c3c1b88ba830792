//! Who is calling. Deployed, API Gateway's JWT authorizer has verified the token's signature,
//! issuer, audience and expiry before the function runs, and hands the function its claims;
//! locally the gateway does the same with the stack's dev key. The function re-checks the claims
//! against its own configuration and the injected clock — so a route left without the authorizer,
//! or a direct invocation, gets nothing — and reads the caller's role.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// What the admin function accepts (template parameters; the authorizer is configured from the
/// same ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The token issuer (`iss`), e.g. a Cognito user pool's URL.
    pub issuer: String,
    /// The audience: the token's `aud`, or its `client_id` when it has no `aud` (Cognito access
    /// tokens), as the HTTP API JWT authorizer checks it.
    pub audience: String,
    /// The claim holding the caller's role(s), e.g. `role` or `cognito:groups`.
    pub role_claim: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May read everything.
    Viewer,
    /// May also resolve review items and change the directory.
    Ops,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Ops => "ops",
        }
    }
}

/// A verified caller: the token's subject (recorded with every write) and role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no verified token: sign in")]
    Missing,
    #[error("the token is not from the configured issuer")]
    Issuer,
    #[error("the token is not for this API")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token names no subject")]
    NoSubject,
    #[error("the token gives no admin role (viewer or ops)")]
    NoRole,
}

/// API Gateway hands claims as strings; a list claim (`cognito:groups`) arrives as `[a b]`.
fn claim_values(raw: &str) -> Vec<&str> {
    let inner = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    inner
        .split([' ', ','])
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
        .collect()
}

fn instant(claims: &HashMap<String, String>, name: &str) -> Option<Option<DateTime<Utc>>> {
    claims.get(name).map(|v| {
        v.parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
    })
}

/// Re-checks the authorizer's claims at `now`. `None`: the request came without a verified token.
pub fn authorize(
    claims: Option<&HashMap<String, String>>,
    settings: &AuthSettings,
    now: DateTime<Utc>,
) -> Result<Caller, AuthError> {
    let claims = claims.filter(|c| !c.is_empty()).ok_or(AuthError::Missing)?;
    if claims.get("iss").map(String::as_str) != Some(settings.issuer.as_str()) {
        return Err(AuthError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(aud) => claim_values(aud).contains(&settings.audience.as_str()),
        None => claims.get("client_id") == Some(&settings.audience),
    };
    if !audience_ok {
        return Err(AuthError::Audience);
    }
    // A token without an expiry is never accepted; the authorizer requires one too.
    match instant(claims, "exp") {
        Some(Some(exp)) if now < exp => {}
        Some(Some(_)) => return Err(AuthError::Expired),
        _ => return Err(AuthError::Expired),
    }
    match instant(claims, "nbf") {
        Some(Some(nbf)) if now < nbf => return Err(AuthError::NotYetValid),
        Some(None) => return Err(AuthError::NotYetValid),
        _ => {}
    }
    let subject = claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::NoSubject)?
        .clone();
    let roles = claims
        .get(&settings.role_claim)
        .map(|r| claim_values(r))
        .unwrap_or_default();
    let role = if roles.contains(&"ops") {
        Role::Ops
    } else if roles.contains(&"viewer") {
        Role::Viewer
    } else {
        return Err(AuthError::NoRole);
    };
    Ok(Caller { subject, role })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "https://issuer.example".into(),
            audience: "admin-api".into(),
            role_claim: "role".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn claims(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let exp = (now().timestamp() + 600).to_string();
        let mut c: HashMap<String, String> = [
            ("iss", "https://issuer.example"),
            ("aud", "admin-api"),
            ("sub", "ops-1"),
            ("role", "ops"),
            ("exp", exp.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            if v.is_empty() {
                c.remove(*k);
            } else {
                c.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        c
    }

    #[test]
    fn a_valid_token_gives_its_subject_and_role() {
        let caller = authorize(Some(&claims(&[])), &settings(), now()).unwrap();
        assert_eq!(
            caller,
            Caller {
                subject: "ops-1".into(),
                role: Role::Ops
            }
        );
        let viewer = authorize(Some(&claims(&[("role", "viewer")])), &settings(), now()).unwrap();
        assert_eq!(viewer.role, Role::Viewer);
        // a Cognito access token: groups as a list, the app client instead of aud
        let cognito = settings_with("cognito:groups");
        let c = claims(&[
            ("aud", ""),
            ("client_id", "admin-api"),
            ("role", ""),
            ("cognito:groups", "[viewer ops]"),
        ]);
        assert_eq!(
            authorize(Some(&c), &cognito, now()).unwrap().role,
            Role::Ops
        );
    }

    fn settings_with(role_claim: &str) -> AuthSettings {
        AuthSettings {
            role_claim: role_claim.into(),
            ..settings()
        }
    }

    #[test]
    fn every_claim_is_rechecked() {
        let s = settings();
        let exp_now = now().timestamp().to_string();
        let later = (now().timestamp() + 60).to_string();
        let cases: Vec<(Vec<(&str, &str)>, AuthError)> = vec![
            (vec![("iss", "https://evil.example")], AuthError::Issuer),
            (vec![("iss", "")], AuthError::Issuer),
            (vec![("aud", "another-api")], AuthError::Audience),
            (vec![("aud", "")], AuthError::Audience),
            // expiry is exclusive: at exp the token is dead
            (vec![("exp", exp_now.as_str())], AuthError::Expired),
            (vec![("exp", "")], AuthError::Expired),
            (vec![("exp", "soon")], AuthError::Expired),
            (vec![("nbf", later.as_str())], AuthError::NotYetValid),
            (vec![("sub", "")], AuthError::NoSubject),
            (vec![("role", "admin")], AuthError::NoRole),
            (vec![("role", "")], AuthError::NoRole),
        ];
        for (patch, want) in cases {
            assert_eq!(
                authorize(Some(&claims(&patch)), &s, now()),
                Err(want),
                "{patch:?}"
            );
        }
        assert_eq!(authorize(None, &s, now()), Err(AuthError::Missing));
        assert_eq!(
            authorize(Some(&HashMap::new()), &s, now()),
            Err(AuthError::Missing)
        );
        // one second before expiry it is still good
        let just = (now().timestamp() + 1).to_string();
        assert!(authorize(Some(&claims(&[("exp", just.as_str())])), &s, now()).is_ok());
    }
}
