//! Our scalar functions on every Ballista role.
//!
//! Ballista ships plans between processes as protobuf, and DataFusion's protobuf encodes a
//! scalar UDF call by its **name** only (`ScalarUdfExprNode::fun_name`, no function body). Each
//! process decodes the name against its own registry, so the same list
//! ([`reelforest_features::udf::all`]) must be present:
//!
//! | role | where it is registered |
//! | --- | --- |
//! | client | [`crate::client::connect`] registers it on the remote `SessionContext` (planning the SQL) |
//! | scheduler | [`crate::session::session_state`], the scheduler's session builder (decoding the logical plan) |
//! | executor | [`function_registry`], the executor's function registry (decoding task plans) |
//!
//! Our functions are plain, stateless UDFs, so Ballista's default logical and physical
//! extension codecs suffice: nothing but the name travels.

use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use std::sync::Arc;

/// Every reelforest scalar function (`rf_bucket`, ...), as shared pointers.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    reelforest_features::udf::all().into_iter().map(Arc::new).collect()
}

/// Ballista's default executor registry (DataFusion's built-ins) plus [`scalar_udfs`].
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in scalar_udfs() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::FunctionRegistry;

    #[test]
    fn every_role_knows_rf_bucket() {
        let registry = function_registry();
        assert!(registry.udf(reelforest_features::udf::RF_BUCKET).is_ok());
        // Built-ins are still there.
        assert!(registry.udf("abs").is_ok());
    }
}
