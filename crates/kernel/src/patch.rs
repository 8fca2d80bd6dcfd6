//! Two interfaces joined without a bridge (conlink's `patch` mode): each
//! gets an `ingress` qdisc and a filter that matches every frame (`u32`
//! with one empty key, since this kernel has no `matchall`) and redirects
//! it to the other's egress with the `mirred` action. As netlink requests
//! (pure; [`crate::Rtnl::execute`] sends them), the same messages as
//! `tc qdisc add dev A ingress` and `tc filter add dev A parent ffff:
//! protocol all u32 match u8 0 0 action mirred egress redirect dev B`.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcActionType, TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcMirror,
    TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};

use crate::msg::Batch;

/// `ETH_P_ALL`: the filter sees every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The handle of an `ingress` qdisc (`ffff:`), the parent of its filters.
const INGRESS_HANDLE: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0,
};

impl<'a> Batch<'a> {
    /// Adds an `ingress` qdisc to link `ifindex`. `EEXIST` if it has one.
    pub fn add_ingress_qdisc(&mut self, ifindex: u32) -> &mut Self {
        let mut m = TcMessage::with_index(i32::try_from(ifindex).unwrap_or(i32::MAX));
        m.header.handle = INGRESS_HANDLE;
        m.header.parent = TcHandle::INGRESS;
        m.attributes = vec![TcAttribute::Kind("ingress".into())];
        let d = format!(
            "adding an ingress qdisc to {}:ifindex {ifindex}",
            self.label()
        );
        self.push(libc::RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &m, d);
        self
    }

    /// Redirects every frame arriving on link `from` (which needs an
    /// `ingress` qdisc) to the egress of link `to`, in the same namespace.
    /// `ENOENT` if the kernel has no `u32` classifier or `mirred` action.
    pub fn redirect_ingress(&mut self, from: u32, to: u32) -> &mut Self {
        let mut m = TcMessage::with_index(i32::try_from(from).unwrap_or(i32::MAX));
        m.header.parent = INGRESS_HANDLE;
        // Priority 0: the kernel picks one. The protocol is big-endian.
        m.header.info = u32::from(ETH_P_ALL.to_be());
        let mut key = TcU32Key::default();
        key.mask = 0;
        key.val = 0;
        let mut sel = TcU32Selector::default();
        sel.flags = TcU32SelectorFlags::Terminal;
        sel.nkeys = 1;
        sel.keys = vec![key];
        let mut generic = TcActionGeneric::default();
        generic.action = TcActionType::Stolen;
        let mut parms = TcMirror::default();
        parms.generic = generic;
        parms.eaction = TcMirrorActionType::EgressRedir;
        parms.ifindex = to;
        let mut action = TcAction::default();
        action.tab = 1;
        action.attributes = vec![
            TcActionAttribute::Kind("mirred".into()),
            TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
                parms,
            ))]),
        ];
        m.attributes = vec![
            TcAttribute::Kind("u32".into()),
            TcAttribute::Options(vec![
                TcOption::U32(TcFilterU32Option::Selector(sel)),
                TcOption::U32(TcFilterU32Option::Action(vec![action])),
            ]),
        ];
        let d = format!(
            "redirecting {}:ifindex {from}'s ingress to ifindex {to} (tc mirred)",
            self.label()
        );
        self.push(libc::RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &m, d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_is_an_ingress_qdisc_and_a_redirecting_filter_per_side() {
        let mut b = Batch::new("hub");
        b.add_ingress_qdisc(2)
            .add_ingress_qdisc(3)
            .redirect_ingress(2, 3)
            .redirect_ingress(3, 2);
        let d: Vec<_> = b.descriptions().collect();
        assert_eq!(
            d,
            [
                "adding an ingress qdisc to hub:ifindex 2",
                "adding an ingress qdisc to hub:ifindex 3",
                "redirecting hub:ifindex 2's ingress to ifindex 3 (tc mirred)",
                "redirecting hub:ifindex 3's ingress to ifindex 2 (tc mirred)",
            ]
        );
    }
}
