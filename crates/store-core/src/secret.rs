//! Secrets kept out of what is shown: a location's password.

/// `location` as it may be shown (in an error, a report, a log line, `Debug` output): the
/// password of a URL's user (`scheme://user:PASSWORD@host`) and the value of a `password`
/// query parameter are replaced by `***`, as restic and sqlx show them. Anything else,
/// a file path included, is returned as it is. It works on text that is not a valid URL
/// too, so that a location refused for its form is still shown without its password.
pub fn redact_location(location: &str) -> String {
    let Some(scheme_end) = location.find("://") else {
        return location.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &location[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let mut shown = location[..authority_start].to_owned();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    shown.push_str(user);
                    shown.push_str(":***");
                }
                None => shown.push_str(userinfo),
            }
            shown.push_str(&authority[at..]);
        }
        None => shown.push_str(authority),
    }
    let after = &rest[authority_len..];
    let (path, query) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    shown.push_str(path);
    if let Some(query) = query {
        let (query, fragment) = match query.find('#') {
            Some(f) => (&query[..f], &query[f..]),
            None => (query, ""),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
        shown.push_str(fragment);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact_location;

    #[test]
    fn a_password_is_never_shown_and_nothing_else_changes() {
        for (location, shown) in [
            (
                "postgres://nerve:s3cret@db.example:5432/fleet?schema=a",
                "postgres://nerve:***@db.example:5432/fleet?schema=a",
            ),
            (
                "postgresql://u:p%40ss:w@h/db?password=x&schema=s",
                "postgresql://u:***@h/db?password=***&schema=s",
            ),
            (
                "postgres://nerve@h/db?schema=s",
                "postgres://nerve@h/db?schema=s",
            ),
            ("postgres://:only@h?schema=s", "postgres://:***@h?schema=s"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            ("sqlite:./data/nerve.db", "sqlite:./data/nerve.db"),
            ("postgres://u:secret", "postgres://u:secret"),
        ] {
            assert_eq!(redact_location(location), shown, "{location}");
        }
    }
}
