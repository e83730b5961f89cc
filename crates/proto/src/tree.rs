//! Single trees as protobuf (`reelforest.v1.Tree`): the unit the cluster ships, a worker
//! returning each tree it grew with its `tree_index`. The coordinator decodes them with
//! [`decode_tree`] and assembles the forest with [`reelforest_tree::Forest::from_trees`],
//! exactly as a model file loader does.

use crate::convert;
use crate::error::{Error, Result};
use crate::pb;
use prost::Message;
use reelforest_tree::Tree;

/// Encodes one tree as a `reelforest.v1.Tree` message.
pub fn encode_tree(tree: &Tree) -> Vec<u8> {
    convert::tree_to_pb(tree).encode_to_vec()
}

/// Decodes and checks a `reelforest.v1.Tree` message (structure, child indices, class
/// weights); errors name the bad field (`nodes[17].split.left`).
pub fn decode_tree(bytes: &[u8]) -> Result<Tree> {
    let msg = pb::Tree::decode(bytes).map_err(|e| Error::decode("tree message", e))?;
    convert::tree_from_pb(msg, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforest_tree::{Node, Split};

    fn leaf(p: f64) -> Node {
        Node { split: None, impurity: 0.0, count: 1.0, weight: 1.0, prediction: p, class_weights: vec![] }
    }

    fn stump() -> Tree {
        let root = Node {
            split: Some(Split {
                feature: 1,
                threshold: 0.5,
                bin: 3,
                missing_left: true,
                gain: 0.25,
                left: 1,
                right: 2,
            }),
            ..leaf(1.5)
        };
        Tree::new(7, 0, vec![root, leaf(1.0), leaf(2.0)]).expect("valid tree")
    }

    #[test]
    fn tree_round_trips() {
        let t = stump();
        assert_eq!(decode_tree(&encode_tree(&t)).expect("decodes"), t);
    }

    #[test]
    fn bad_child_is_named() {
        let mut msg = convert::tree_to_pb(&stump());
        if let Some(s) = msg.nodes[0].split.as_mut() {
            s.left = 999;
        }
        let err = decode_tree(&msg.encode_to_vec()).expect_err("bad child");
        assert_eq!(err.to_string(), "nodes[0].split.left: 999 out of range (tree has 3 nodes)");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let err = decode_tree(&[0xff, 0xff, 0xff]).expect_err("garbage");
        assert_eq!(err.to_string(), "cannot decode tree message");
    }
}
