//! `build:` services: the service's context and Dockerfile through the engine's build
//! module, tagged `<project>-<service>` (or `image:`) as compose v2 names it. An unchanged
//! context is a cached build giving the same image id, so `up --build` leaves the
//! service's containers alone.

use std::path::Path;
use std::sync::Arc;

use super::lifecycle::{image_name, svc_err};
use super::model::{Project, Service};
use super::ComposeError;
use crate::build::{self, Options};
use crate::image::Image;
use crate::reference::Reference;
use crate::store::Store;

/// Builds service `name`'s image; the build's step lines go to `report`.
pub fn build(
    store: &Store,
    p: &Project,
    name: &str,
    s: &Service,
    insecure: &[String],
    report: &mut dyn FnMut(String),
) -> Result<Image, ComposeError> {
    let Some(b) = &s.build else {
        return Err(svc_err(name, "has no build section"));
    };
    let context = Path::new(&b.context).to_path_buf();
    if !context.is_dir() {
        return Err(svc_err(
            name,
            format!(
                "build context {:?}: not a directory",
                context.display().to_string()
            ),
        ));
    }
    // compose resolves the Dockerfile against the context, not the project directory.
    let dockerfile = context.join(b.dockerfile.as_deref().unwrap_or("Dockerfile"));
    let tag = image_name(p, name, s);
    let opts = Options {
        context,
        dockerfile,
        tags: vec![tag.clone()],
        build_args: b.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        target: b.target.clone(),
        network: "none".into(),
        labels: b
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Default::default()
    };
    report(format!(" Service {name}  Building"));
    let mut out = |l: &str| report(format!("#{name} {l}"));
    let mut pull = |image: &str| pull(store, image, insecure);
    let img = build::build(store, &opts, &mut out, &mut pull).map_err(|e| match e {
        build::BuildError::RunFailed { ref output, .. } if !output.is_empty() => {
            svc_err(name, format!("{e}\n{}", output.trim_end()))
        }
        e => svc_err(name, format!("failed to solve: {e}")),
    })?;
    report(format!(" Service {name}  Built"));
    Ok(img)
}

/// A base image the store lacks, pulled quietly.
fn pull(store: &Store, image: &str, insecure: &[String]) -> Result<Image, String> {
    let r = Reference::parse(image).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(crate::registry::pull(
        store,
        &r,
        insecure,
        Arc::new(super::lifecycle::Quiet),
    ))
    .map(|p| p.image)
    .map_err(|e| e.to_string())
}
