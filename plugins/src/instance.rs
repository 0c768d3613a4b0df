//! One plugin's instance, whatever its kind: linking its world, starting it (instantiation
//! and `init`, both under the deadline) and replacing it after a call that trapped, ran past
//! its deadline or hit its memory cap. Partitioners and consumers differ only in their
//! [`PluginWorld`].

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use crate::engine::{CompiledPlugin, PluginEngine};
use crate::error::{CallError, LoadError};
use crate::sandbox::{SandboxState, classify, guarded, new_store, set_deadline};
use crate::settings::PluginSettings;

/// What a kind of plugin adds to the shared lifecycle: its imports, its bindings, its `init`.
pub(crate) trait PluginWorld: Sized {
    /// The bindings' pre-instantiated form.
    type Pre;
    /// The kind, for errors ("partitioner", "consumer").
    const KIND: &'static str;
    /// Adds the host functions the world imports (WASI is already linked).
    fn link(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()>;
    /// Checks the component against the world.
    fn prepare(pre: InstancePre<SandboxState>) -> wasmtime::Result<Self::Pre>;
    /// Instantiates the component in `store`.
    fn instantiate(pre: &Self::Pre, store: &mut Store<SandboxState>) -> wasmtime::Result<Self>;
    /// Calls the plugin's `init` with its config.
    fn init(
        &self,
        store: &mut Store<SandboxState>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>>;
}

/// A plugin instance that is started again after a failed call.
pub(crate) struct PluginInstance<W: PluginWorld> {
    name: String,
    settings: PluginSettings,
    engine: PluginEngine,
    pre: W::Pre,
    live: Option<(Store<SandboxState>, W)>,
}

impl<W: PluginWorld> PluginInstance<W> {
    /// Links a compiled plugin against `W` and starts an instance.
    pub(crate) fn new(
        engine: &PluginEngine,
        plugin: &CompiledPlugin,
        settings: PluginSettings,
    ) -> Result<Self, LoadError> {
        let interface = |e: wasmtime::Error| LoadError::Interface {
            name: plugin.name.clone(),
            kind: W::KIND,
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<SandboxState>::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(interface)?;
        W::link(&mut linker).map_err(interface)?;
        let pre = linker
            .instantiate_pre(&plugin.component)
            .map_err(interface)?;
        let pre = W::prepare(pre).map_err(interface)?;
        let mut instance = Self {
            name: plugin.name.clone(),
            settings,
            engine: engine.clone(),
            pre,
            live: None,
        };
        instance.live = Some(instance.start()?);
        Ok(instance)
    }

    /// The plugin's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The settings every instance starts with.
    pub(crate) fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    fn start(&self) -> Result<(Store<SandboxState>, W), LoadError> {
        let mut store = new_store(self.engine.engine(), &self.name, &self.settings)?;
        let started = |source| LoadError::Start {
            name: self.name.clone(),
            source,
        };
        let world = guarded(|| W::instantiate(&self.pre, &mut store))
            .map_err(|e| started(classify(&e, &self.settings)))?;
        set_deadline(&mut store, self.settings.deadline);
        match guarded(|| world.init(&mut store, &self.settings.config)) {
            Ok(Ok(())) => Ok((store, world)),
            Ok(Err(reason)) => Err(LoadError::Refused {
                name: self.name.clone(),
                reason,
            }),
            Err(e) => Err(started(classify(&e, &self.settings))),
        }
    }

    /// The live instance with its deadline armed for one call; a fresh one if the last
    /// call failed (that start failing is this call's error).
    pub(crate) fn ready(&mut self) -> Result<(&mut Store<SandboxState>, &W), CallError> {
        if self.live.is_none() {
            let started = self.start().map_err(|e| match e {
                LoadError::Start { source, .. } => source,
                other => CallError::Trap(other.to_string()),
            })?;
            self.live = Some(started);
        }
        let Some((store, world)) = self.live.as_mut() else {
            unreachable!("started above");
        };
        set_deadline(store, self.settings.deadline);
        Ok((store, world))
    }

    /// What a failed call means; the instance is dropped, so the next call starts afresh.
    pub(crate) fn failed(&mut self, error: &wasmtime::Error) -> CallError {
        self.live = None;
        classify(error, &self.settings)
    }
}
