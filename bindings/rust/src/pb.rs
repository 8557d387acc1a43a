//! Protobuf messages (prost), typed by bus_type_id() of their full name as
//! C producers and consumers type them.

use crate::{type_id, Error, Message, Sender};

/// A protobuf message type that knows its full name (`"demo.Order"`).
pub trait Named: prost::Message + Sized {
    /// The message's full name: its proto package, a dot, its name.
    const FULL_NAME: &'static str;
}

fn bad_message() -> Error {
    Error::from_errno(libc::EBADMSG)
}

impl Sender {
    /// Sends `msg` typed as `full_name`, encoded straight into the ring.
    pub fn send_message<M: prost::Message>(&self, msg: &M, full_name: &str) -> Result<(), Error> {
        let len = msg.encoded_len();
        let p = self.lock();
        let mut buf = std::ptr::null_mut();
        Error::check(unsafe { crate::ffi::bus_send_reserve(p.0.as_ptr(), len, -1, &mut buf) })?;
        let mut out: &mut [u8] = unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) };
        if msg.encode(&mut out).is_err() {
            unsafe { crate::ffi::bus_send_abort(p.0.as_ptr()) };
            return Err(Error::from_errno(libc::EMSGSIZE));
        }
        Error::check(unsafe { crate::ffi::bus_send_commit(p.0.as_ptr(), type_id(full_name), len) })
            .map(drop)
    }

    /// Sends a [`Named`] message.
    pub fn send_named<M: Named>(&self, msg: &M) -> Result<(), Error> {
        self.send_message(msg, M::FULL_NAME)
    }
}

impl Message<'_> {
    /// Decodes the payload as `M` if the message is typed `full_name`;
    /// `EBADMSG` if it is typed otherwise or does not decode.
    pub fn decode<M: prost::Message + Default>(&self, full_name: &str) -> Result<M, Error> {
        if self.type_id() != type_id(full_name) {
            return Err(bad_message());
        }
        M::decode(self.data()).map_err(|_| bad_message())
    }

    /// Decodes a [`Named`] message.
    pub fn decode_named<M: Named + Default>(&self) -> Result<M, Error> {
        self.decode(M::FULL_NAME)
    }

    /// Whether the message is typed as `M`.
    pub fn is<M: Named>(&self) -> bool {
        self.type_id() == type_id(M::FULL_NAME)
    }
}
