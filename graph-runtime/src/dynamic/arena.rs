//! The result slots of one laid-out dynamic graph, one per node, each of its node's
//! result type.
//!
//! (One boxed slot per node measured faster than one `Vec` of slots per result type:
//! the per-type vectors cost more in growth and in two-level lookups than the boxes.)

use std::any::Any;

use crate::slot::SharedSlot;

/// Every node's result slot for runs of one laid-out graph.
pub struct Arena {
    slots: Vec<Box<dyn Any + Send + Sync>>,
}

/// Collects the slots while a graph is laid out.
pub(crate) struct ArenaBuilder {
    slots: Vec<Box<dyn Any + Send + Sync>>,
}

impl ArenaBuilder {
    pub(crate) fn with_capacity(nodes: usize) -> Self {
        ArenaBuilder {
            slots: Vec::with_capacity(nodes),
        }
    }

    /// Adds the next node's slot, read `uses` times per run.
    pub(crate) fn push<T: Send + Sync + 'static>(&mut self, uses: u32) {
        self.slots.push(Box::new(SharedSlot::<T>::new(uses)));
    }

    pub(crate) fn finish(self) -> Arena {
        Arena { slots: self.slots }
    }
}

impl Arena {
    /// The slot of node `index`, of its own result type.
    pub(crate) fn slot<T: 'static>(&self, index: u32) -> &SharedSlot<T> {
        match self.slots[index as usize].downcast_ref::<SharedSlot<T>>() {
            Some(slot) => slot,
            None => unreachable!("taskweave: a dynamic node's slot has another type"),
        }
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}
