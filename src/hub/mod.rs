//! Models from the Hugging Face hub or local files: the catalogue, model SPECs, the cache/download store,
//! verification, and reading a model folder's config and weights.
pub mod catalog;
pub mod download;
pub mod lock;
pub mod model_dir;
pub mod net;
pub mod spec;
pub mod store;
pub mod verify;
pub mod weights;

pub use catalog::{Catalog, CatalogEntry, Task};
pub use spec::{FileSet, ModelSpec};
pub use net::NetSettings;
pub use store::{ModelStore, ResolvedModel};
