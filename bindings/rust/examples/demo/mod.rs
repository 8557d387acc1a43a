//! demo.Order of clients/examples/demo.proto, as prost-build would
//! generate it: shared by the examples that speak protobuf (and by
//! tests/protobuf.rs).

use bus_ipc::Named;

/// demo.Order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Order {
    /// The order's id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The instrument.
    #[prost(string, tag = "2")]
    pub symbol: String,
    /// Signed: negative sells.
    #[prost(int64, tag = "3")]
    pub quantity: i64,
    /// The price in millionths.
    #[prost(int64, tag = "4")]
    pub price_micros: i64,
}

impl Named for Order {
    const FULL_NAME: &'static str = "demo.Order";
}
