//! Sprig's certificate and password functions: `genCA`, `genSelfSignedCert`, `genSignedCert`,
//! `genPrivateKey` and `htpasswd`. Charts use them to fill TLS Secrets and basic-auth files
//! (every Bitnami chart does), so refusing them made whole templates unrenderable.
//!
//! The output has Helm's shape, not Helm's randomness: real X.509 certificates in PEM (built with
//! `rcgen`, signed with `ring`), a `{Cert, Key}` object as Sprig returns, and bcrypt hashes in
//! Go's `$2a$10$…` form. Differences, on purpose:
//! - keys are ECDSA P-256 (`-----BEGIN PRIVATE KEY-----`, PKCS#8) where Sprig makes RSA 2048
//!   (`-----BEGIN RSA PRIVATE KEY-----`): RSA key generation costs a hundred times more CPU and
//!   nothing the checks read depends on the algorithm. `genPrivateKey "rsa"` does make a 2048-bit
//!   RSA key (PKCS#1, as Sprig; charged like a bcrypt hash), `"dsa"` is refused;
//! - the bcrypt salt is derived from the user and password rather than random, so a render is
//!   repeatable;
//! - `genSignedCert` signs with the CA's key (PKCS#8 or PKCS#1 RSA) under the CA's name when the
//!   CA came from `genCA` in the same render; a CA supplied as text (from values) is used for its
//!   key, under the name `ca`; a CA key regscan cannot read is replaced by a fresh one;
//! - the `…WithKey` forms take a PKCS#8 or PKCS#1 RSA key in PEM and return it as given.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use sha2::Digest as _;

use super::funcs::{s, to_i64, FResult};
use super::value::Value;

/// Go's `bcrypt.DefaultCost`, which Sprig's `htpasswd` uses.
const GO_BCRYPT_COST: u32 = 10;
/// Most CAs remembered per render thread for `genSignedCert`.
const MAX_REMEMBERED_CAS: usize = 64;
/// Longest validity accepted, in days (longer requests are cut to this).
const MAX_DAYS: i64 = 100 * 366;

thread_local! {
    /// Certificate PEM of each CA made by `genCA` on this thread → its common name.
    static CAS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Call one of these functions; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "genCA" => gen_ca(name, a, false),
        "genCAWithKey" => gen_ca(name, a, true),
        "genSelfSignedCert" => gen_cert(name, a, false, false),
        "genSelfSignedCertWithKey" => gen_cert(name, a, false, true),
        "genSignedCert" => gen_cert(name, a, true, false),
        "genSignedCertWithKey" => gen_cert(name, a, true, true),
        "genPrivateKey" => gen_private_key(a),
        "htpasswd" => htpasswd(a),
        _ => return None,
    })
}

fn err(e: impl std::fmt::Display) -> String {
    format!("error generating certificate: {e}")
}

/// Today's date (UTC) as year, month, day.
fn today() -> (i32, u8, u8) {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

fn params(cn: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    let (y, m, d) = today();
    p.not_before = rcgen::date_time_ymd(y, m, d);
    p.not_after = p.not_before + Duration::from_secs(days.clamp(0, MAX_DAYS) as u64 * 86_400);
    p
}

fn cert_object(cert: String, key: String) -> Value {
    Value::map(
        [
            ("Cert".to_owned(), Value::Str(cert)),
            ("Key".to_owned(), Value::Str(key)),
        ]
        .into_iter()
        .collect(),
    )
}

fn arity(name: &str, a: &[Value], want: usize) -> Result<(), String> {
    if a.len() != want {
        return Err(format!("wrong number of args for {name}: want {want} got {}", a.len()));
    }
    Ok(())
}

/// A key given as PEM (`…WithKey`, a CA's key): PKCS#8 (RSA, ECDSA, Ed25519) or PKCS#1 RSA
/// (`BEGIN RSA PRIVATE KEY`, what Sprig's `genPrivateKey "rsa"` makes).
fn parse_key(pem: &str) -> Result<KeyPair, String> {
    if let Ok(k) = KeyPair::from_pem(pem) {
        return Ok(k);
    }
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let rsa_key = rsa::RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .map_err(|_| "the key is not a PEM private key regscan can read (PKCS#8 or PKCS#1 RSA)".to_owned())?;
    let pkcs8 = rsa_key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).map_err(err)?;
    KeyPair::from_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).map_err(err)
}

/// The key of a `…WithKey` call, returned as given.
fn given_key(name: &str, v: &Value) -> Result<(KeyPair, String), String> {
    let pem = s(v);
    let key = parse_key(&pem).map_err(|e| format!("{name}: {e}"))?;
    Ok((key, pem))
}

/// A fresh ECDSA P-256 key and its PEM.
fn fresh_key() -> Result<(KeyPair, String), String> {
    let k = KeyPair::generate().map_err(err)?;
    let pem = k.serialize_pem();
    Ok((k, pem))
}

/// `genCA cn days` and `genCAWithKey cn days key`.
fn gen_ca(name: &str, a: &[Value], with_key: bool) -> FResult {
    arity(name, a, 2 + usize::from(with_key))?;
    let cn = s(&a[0]);
    let mut p = params(&cn, to_i64(&a[1]));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let (key, key_pem) = if with_key {
        given_key(name, &a[2])?
    } else {
        fresh_key()?
    };
    let cert = p.self_signed(&key).map_err(err)?.pem();
    CAS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_REMEMBERED_CAS {
            c.insert(cert.clone(), cn);
        }
    });
    Ok(cert_object(cert, key_pem))
}

/// The strings of a list argument (`ips`, `alternateDNS`); nil is an empty list.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Nil => Ok(vec![]),
        Value::List(l) => Ok(l.iter().map(s).collect()),
        other => Err(format!("{what}: wants a list, got {}", other.type_name())),
    }
}

/// `genSelfSignedCert cn ips alternateDNS days`, `genSignedCert cn ips alternateDNS days ca`,
/// and their `…WithKey` forms with the key last.
fn gen_cert(name: &str, a: &[Value], signed: bool, with_key: bool) -> FResult {
    arity(name, a, 4 + usize::from(signed) + usize::from(with_key))?;
    let ca = signed.then(|| &a[4]);
    let cn = s(&a[0]);
    let mut p = params(&cn, to_i64(&a[3]));
    for ip in strings(&a[1], "ips")? {
        let ip: IpAddr = ip.parse().map_err(|_| format!("error parsing ip: {ip}"))?;
        p.subject_alt_names.push(SanType::IpAddress(ip));
    }
    for dns in strings(&a[2], "alternateDNS")? {
        p.subject_alt_names.push(SanType::DnsName(dns.try_into().map_err(err)?));
    }
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let (key, key_pem) = if with_key {
        given_key(name, &a[a.len() - 1])?
    } else {
        fresh_key()?
    };
    let cert = match ca {
        None => p.self_signed(&key).map_err(err)?,
        Some(ca) => {
            let Value::Map(m) = ca else {
                return Err(format!(
                    "{name}: the CA must be the result of genCA, got {}",
                    ca.type_name()
                ));
            };
            let ca_cert = m.get("Cert").map(|v| s(&v)).unwrap_or_default();
            let ca_key = m.get("Key").map(|v| s(&v)).unwrap_or_default();
            let ca_cn = CAS
                .with(|c| c.borrow().get(&ca_cert).cloned())
                .unwrap_or_else(|| "ca".to_owned());
            let signer = match parse_key(&ca_key) {
                Ok(k) => k,
                Err(_) => KeyPair::generate().map_err(err)?,
            };
            let issuer = Issuer::new(params(&ca_cn, 1), signer);
            p.signed_by(&key, &issuer).map_err(err)?
        }
    };
    Ok(cert_object(cert.pem(), key_pem))
}

/// `genPrivateKey "ecdsa"` / `"ed25519"`.
fn gen_private_key(a: &[Value]) -> FResult {
    let kind = a.first().map(s).unwrap_or_default();
    let alg = match kind.as_str() {
        "ecdsa" => &rcgen::PKCS_ECDSA_P256_SHA256,
        "ed25519" => &rcgen::PKCS_ED25519,
        "rsa" => return gen_rsa_key(),
        "dsa" => {
            return Err(
                "genPrivateKey \"dsa\" is not supported by regscan's renderer (rsa, ecdsa and ed25519 are)".into(),
            )
        }
        other => return Err(format!("Unknown type {other}")),
    };
    Ok(Value::Str(KeyPair::generate_for(alg).map_err(err)?.serialize_pem()))
}

/// `genPrivateKey "rsa"`: a 2048-bit RSA key in PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as Sprig.
fn gen_rsa_key() -> FResult {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(err)?;
    let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).map_err(err)?;
    Ok(Value::Str(pem.to_string()))
}

/// `htpasswd user password [algorithm]`: `user:$2a$10$…` (bcrypt) or `user:{SHA}…`.
fn htpasswd(a: &[Value]) -> FResult {
    if !(2..=3).contains(&a.len()) {
        return Err(format!(
            "wrong number of args for htpasswd: want 2 or 3 got {}",
            a.len()
        ));
    }
    let (user, password) = (s(&a[0]), s(&a[1]));
    if user.contains(':') {
        return Ok(Value::Str(format!("invalid username: {user}")));
    }
    if a.get(2).is_some_and(|alg| s(alg) == "sha") {
        use base64::Engine as _;
        use sha1::Digest as _;
        let digest = sha1::Sha1::digest(password.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
        return Ok(Value::Str(format!("{user}:{{SHA}}{encoded}")));
    }
    let seed = sha2::Sha256::digest(format!("regscan-htpasswd\0{user}\0{password}").as_bytes());
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&seed[..16]);
    let hash = bcrypt::hash_with_salt(password.as_bytes(), GO_BCRYPT_COST, salt)
        .map_err(|e| format!("invalid password: {e}"))?;
    Ok(Value::Str(format!(
        "{user}:{}",
        hash.format_for_version(bcrypt::Version::TwoA)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: &Value, field: &str) -> String {
        let Value::Map(m) = v else { panic!("not an object") };
        s(&m.get(field).unwrap())
    }

    #[test]
    fn certificates_have_helms_shape() {
        let ca = call("genCA", &[Value::str("demo-ca"), Value::Int(365)])
            .unwrap()
            .unwrap();
        assert!(obj(&ca, "Cert").starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(obj(&ca, "Cert").trim_end().ends_with("-----END CERTIFICATE-----"));
        assert!(obj(&ca, "Key").starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let ips = Value::list(vec![Value::str("10.0.0.1")]);
        let dns = Value::list(vec![Value::str("svc.default.svc")]);
        let leaf = call(
            "genSignedCert",
            &[Value::str("svc"), ips.clone(), dns.clone(), Value::Int(30), ca],
        )
        .unwrap()
        .unwrap();
        assert!(obj(&leaf, "Cert").starts_with("-----BEGIN CERTIFICATE-----"));
        let own = call(
            "genSelfSignedCert",
            &[Value::str("svc"), Value::Nil, dns, Value::Int(30)],
        )
        .unwrap()
        .unwrap();
        assert_ne!(obj(&own, "Cert"), obj(&leaf, "Cert"));
        let bad = call(
            "genSelfSignedCert",
            &[
                Value::str("svc"),
                Value::list(vec![Value::str("nope")]),
                Value::Nil,
                Value::Int(1),
            ],
        );
        assert!(bad.unwrap().unwrap_err().contains("error parsing ip"));
        assert!(call("genSignedCert", &[Value::str("x")]).unwrap().is_err());
    }

    #[test]
    fn civil_dates_are_right() {
        // The conversion is exercised through today(); check it lands in a plausible year.
        let (y, m, d) = today();
        assert!((2024..2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d));
    }

    #[test]
    fn htpasswd_is_bcrypt_in_gos_format() {
        let v = s(&call("htpasswd", &[Value::str("admin"), Value::str("s3cret")])
            .unwrap()
            .unwrap());
        let (user, hash) = v.split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        let sha = s(&call(
            "htpasswd",
            &[Value::str("u"), Value::str("password"), Value::str("sha")],
        )
        .unwrap()
        .unwrap());
        assert_eq!(sha, "u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
        let bad = s(&call("htpasswd", &[Value::str("a:b"), Value::str("x")])
            .unwrap()
            .unwrap());
        assert_eq!(bad, "invalid username: a:b");
    }

    #[test]
    fn private_keys() {
        let k = s(&call("genPrivateKey", &[Value::str("ecdsa")]).unwrap().unwrap());
        assert!(k.starts_with("-----BEGIN PRIVATE KEY-----"));
        let rsa = s(&call("genPrivateKey", &[Value::str("rsa")]).unwrap().unwrap());
        assert!(rsa.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{rsa}");
        assert!(call("genPrivateKey", &[Value::str("dsa")])
            .unwrap()
            .unwrap_err()
            .contains("not supported"));
        // The `…WithKey` forms take Sprig's PKCS#1 RSA key as well as PKCS#8 keys, and return it.
        let ca = call(
            "genCAWithKey",
            &[Value::str("ca"), Value::Int(10), Value::str(rsa.clone())],
        )
        .unwrap()
        .unwrap();
        assert_eq!(obj(&ca, "Key"), rsa);
        let leaf = call(
            "genSignedCertWithKey",
            &[
                Value::str("x"),
                Value::Nil,
                Value::Nil,
                Value::Int(10),
                ca,
                Value::str(k.clone()),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(obj(&leaf, "Key"), k);
        assert!(obj(&leaf, "Cert").starts_with("-----BEGIN CERTIFICATE-----"));
        let own = call(
            "genSelfSignedCertWithKey",
            &[
                Value::str("x"),
                Value::Nil,
                Value::Nil,
                Value::Int(10),
                Value::str("not a key"),
            ],
        )
        .unwrap();
        assert!(own.unwrap_err().contains("not a PEM private key"));
    }
}
