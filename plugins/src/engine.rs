//! The one wasmtime [`Engine`] every plugin shares: its compiler settings, the on-disk cache
//! of compiled components, and the thread that advances the epoch so per-call deadlines
//! can interrupt a plugin.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Cache, CacheConfig, Config, Engine};

use crate::error::LoadError;

/// How often the epoch advances: the granularity of deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The shared engine. Cloning shares it; the epoch thread stops with the last clone.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    cache: Option<Cache>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("cache", &self.cache_dir())
            .finish()
    }
}

/// A compiled component and where it came from.
#[derive(Clone)]
pub struct CompiledPlugin {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The size of the `.wasm` file in bytes.
    pub size: usize,
    pub(crate) component: Component,
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlugin")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

impl PluginEngine {
    /// An engine whose compiled components are cached under `cache_dir` (keyed by the
    /// wasm's hash, the wasmtime version and the compiler settings); `None` compiles every
    /// time.
    pub fn new(cache_dir: Option<&Path>) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let cache = match cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    LoadError::Engine(format!("creating cache directory {}: {e}", dir.display()))
                })?;
                let mut cache_config = CacheConfig::new();
                cache_config.with_directory(dir);
                let cache = Cache::new(cache_config)
                    .map_err(|e| LoadError::Engine(format!("plugin cache: {e:#}")))?;
                config.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("weir-plugin-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Engine(format!("starting the epoch thread: {e}")))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                cache,
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// The default cache directory: `$WEIR_PLUGIN_CACHE`, else `$XDG_CACHE_HOME/weir/plugins`,
    /// else `$HOME/.cache/weir/plugins`, else none.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("WEIR_PLUGIN_CACHE") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("weir").join("plugins"))
    }

    /// The directory compiled components are cached in, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.directory().as_path())
    }

    /// How many compilations the cache answered so far, and how many it missed.
    pub fn cache_stats(&self) -> (usize, usize) {
        self.inner
            .cache
            .as_ref()
            .map_or((0, 0), |c| (c.cache_hits(), c.cache_misses()))
    }

    /// Reads and compiles the component at `path` (from the cache when it was compiled
    /// before).
    pub fn compile_file(&self, path: &Path) -> Result<CompiledPlugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.file_stem().map_or_else(
            || "plugin".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        self.compile(name, &bytes)
    }

    /// Compiles a component from its bytes.
    pub fn compile(&self, name: String, bytes: &[u8]) -> Result<CompiledPlugin, LoadError> {
        let component =
            Component::new(&self.inner.engine, bytes).map_err(|e| LoadError::Compile {
                name: name.clone(),
                reason: format!("{e:#}"),
            })?;
        Ok(CompiledPlugin {
            name,
            size: bytes.len(),
            component,
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

impl CompiledPlugin {
    /// The names of the interfaces the component exports (`weir:plugin/partitioner@0.2.0`, …).
    pub fn exports(&self) -> Vec<String> {
        let engine = self.component.engine();
        self.component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The names of the interfaces the component imports.
    pub fn imports(&self) -> Vec<String> {
        let engine = self.component.engine();
        self.component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }
}
