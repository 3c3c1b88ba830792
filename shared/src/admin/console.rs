//! The ops console's static files, compiled into the admin function: `GET /admin/console` (the
//! page) and `GET /admin/console/{asset}`. They hold no data and are the same for everyone, so
//! they are the only admin routes without the JWT authorizer (a browser loading a page cannot
//! send a bearer token); everything the console shows comes from the authorized API routes, with
//! the token the user pastes. The content security policy lets the page load only these files and
//! talk only to its own origin: no CDN, no third party, no inline script or style.

/// What the console's responses carry besides their content.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../console/index.html"),
};

const ASSETS: [(&str, Asset); 4] = [
    (
        "app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("../../console/app.js"),
        },
    ),
    (
        "app.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("../../console/app.css"),
        },
    ),
    (
        "uPlot.iife.min.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("../../console/vendor/uplot-1.6.32/uPlot.iife.min.js"),
        },
    ),
    (
        "uPlot.min.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("../../console/vendor/uplot-1.6.32/uPlot.min.css"),
        },
    ),
];

/// Whether a request is for the console (its routes have no authorizer).
pub fn is_console_path(path: &str) -> bool {
    path == "/admin/console" || path.starts_with("/admin/console/")
}

/// The file a console path names, if it is one (`None`: 404).
pub fn asset(path: &str) -> Option<Asset> {
    match path {
        "/admin/console" | "/admin/console/" | "/admin/console/index.html" => Some(INDEX),
        _ => {
            let name = path.strip_prefix("/admin/console/")?;
            ASSETS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
        }
    }
}

/// The headers every console response carries.
pub fn headers(asset: &Asset) -> [(&'static str, &'static str); 6] {
    [
        ("content-type", asset.content_type),
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        // A new deployment's files are picked up within five minutes.
        ("cache-control", "public, max-age=300"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_that_are_served_and_nothing_external() {
        let page = std::str::from_utf8(asset("/admin/console").unwrap().body).unwrap();
        let mut referenced = 0;
        for attr in ["src=\"", "href=\""] {
            for (i, _) in page.match_indices(attr) {
                let url = &page[i + attr.len()..];
                let url = &url[..url.find('"').unwrap()];
                // an in-page anchor, or the empty inline icon (no request for /favicon.ico)
                if url.starts_with('#') || url == "data:," {
                    continue;
                }
                assert!(
                    url.starts_with("/admin/console/"),
                    "{url} is not the console's own"
                );
                assert!(asset(url).is_some(), "{url} is not served");
                referenced += 1;
            }
        }
        assert_eq!(referenced, 4);
        for (name, a) in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            assert!(
                !text.contains("http://") || name.starts_with("uPlot"),
                "{name}"
            );
        }
        assert!(asset("/admin/console/../secrets").is_none());
        assert!(asset("/admin/console/nope.js").is_none());
        assert!(is_console_path("/admin/console") && !is_console_path("/admin/consoles"));
    }
}
