//! Takes from the vendored Swagger UI distribution only the files `/docs` serves, so the
//! binary carries 0.5 MB of it rather than all 11 MB (source maps and bundles no page
//! loads; the large files gzipped). They are compiled in with `include_bytes!`: the UI
//! works offline.

use std::{
    env, fs,
    io::{Read, Write},
    path::PathBuf,
};

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

/// The large ones, kept gzipped.
const COMPRESSED: &[&str] = &[
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
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
        if COMPRESSED.contains(name) {
            // Stored gzipped: 1.7 MB of script and style become about 0.5 MB in the binary,
            // and browsers take them as they are (`Content-Encoding: gzip`).
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&bytes)?;
            fs::write(out.join(format!("{name}.gz")), encoder.finish()?)?;
        } else {
            fs::write(out.join(name), bytes)?;
        }
    }
    Ok(())
}
