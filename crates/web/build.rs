//! Takes from the vendored Swagger UI distribution only the files `/docs` serves, so the
//! binary carries 1.8 MB of it rather than all 11 MB (source maps and bundles no page
//! loads). They are compiled in with `include_bytes!`: the UI works offline.

use std::{env, fs, io::Read, path::PathBuf};

/// Files of Swagger UI's `dist/` folder that the page loads.
const SERVED: &[&str] = &[
    "index.html",
    "index.css",
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-16x16.png",
    "favicon-32x32.png",
    "oauth2-redirect.html",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR")?).join("swagger-ui");
    fs::create_dir_all(&out)?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(
        utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED,
    ))?;
    for name in SERVED {
        // The archive's top folder names the version (`swagger-ui-5.17.14/dist/…`).
        let suffix = format!("/dist/{name}");
        let path = archive
            .file_names()
            .find(|path| path.ends_with(&suffix) && !path.contains("/flavors/"))
            .ok_or_else(|| format!("{name} is not in the vendored Swagger UI"))?
            .to_owned();
        let mut bytes = Vec::new();
        archive.by_name(&path)?.read_to_end(&mut bytes)?;
        fs::write(out.join(name), bytes)?;
    }
    Ok(())
}
