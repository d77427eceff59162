//! `history`: an image's build steps from its config, newest first, with the size of the
//! layer each step made.

use crate::image::{self, Image, ImageError};
use crate::ingest;
use crate::store::Store;

/// One row of `docker history`.
#[derive(Debug, Clone)]
pub struct Step {
    /// The image id for the top step, `<missing>` for the others (as docker shows them).
    pub id: String,
    /// When, RFC 3339.
    pub created: String,
    /// The instruction.
    pub created_by: String,
    /// Unpacked size of the layer the step made (0 for empty-layer steps).
    pub size: u64,
    /// The comment.
    pub comment: String,
}

/// The steps of `img`, newest first.
pub fn history(store: &Store, img: &Image) -> Result<Vec<Step>, ImageError> {
    let cfg = image::config(store, &img.id)?;
    let mut layers = img.layers.iter();
    let mut steps = Vec::new();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    for h in &cfg.history {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layers
                .next()
                .and_then(|c| store.layer_dir(c).ok())
                .map(|d| ingest::layer_size(&d))
                .unwrap_or(0)
        };
        steps.push(Step {
            id: "<missing>".into(),
            created: s(h, "created"),
            created_by: s(h, "created_by"),
            size,
            comment: s(h, "comment"),
        });
    }
    // Layers without history entries (some hand-made images) still show.
    for c in layers {
        steps.push(Step {
            id: "<missing>".into(),
            created: cfg.created.clone().unwrap_or_default(),
            created_by: String::new(),
            size: store
                .layer_dir(c)
                .map(|d| ingest::layer_size(&d))
                .unwrap_or(0),
            comment: String::new(),
        });
    }
    steps.reverse();
    if let Some(top) = steps.first_mut() {
        top.id = img.id.clone();
    }
    Ok(steps)
}
