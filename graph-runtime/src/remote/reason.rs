//! Why a value's own `Serialize` or `Deserialize` failed, in its own words.
//!
//! `postcard` drops the text of a custom error (`serde::ser::Error::custom("…")`, what
//! a hand-written impl or a `#[serde(try_from)]` check returns): its error says only
//! "Serde Serialization Error" (postcard issue #80). On such an error the value is
//! serialized again into [`Sink`], a serializer that writes nothing and whose error
//! keeps the text, or deserialized again through [`Keep`], a wrapper of postcard's
//! deserializer whose error keeps it. Only the failing value pays for the second pass.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};

/// What to say of `error`, postcard's error encoding `value`: the value's own custom
/// error's text when that is what it was, else postcard's words.
pub(super) fn encode_error<T: Serialize + ?Sized>(value: &T, error: postcard::Error) -> String {
    if error == postcard::Error::SerdeSerCustom {
        if let Err(Reason {
            message,
            custom: true,
        }) = value.serialize(Sink)
        {
            return message;
        }
    }
    error.to_string()
}

/// What to say of `error`, postcard's error decoding `bytes` as a `T`: as
/// [`encode_error`] says.
pub(super) fn decode_error<'a, T: de::Deserialize<'a>>(
    bytes: &'a [u8],
    error: postcard::Error,
) -> String {
    if error == postcard::Error::SerdeDeCustom {
        FOUND.with(|found| found.borrow_mut().take());
        let mut deserializer = postcard::Deserializer::from_bytes(bytes);
        let again = T::deserialize(Keep(&mut deserializer));
        // The first custom text met: where the value's code failed (what passed
        // through postcard's own types on the way out is in `FOUND`).
        let found = FOUND.with(|found| found.borrow_mut().take());
        let own = match again {
            Err(Reason {
                message,
                custom: true,
            }) => Some(message),
            _ => None,
        };
        if let Some(message) = found.or(own) {
            return message;
        }
    }
    error.to_string()
}

thread_local! {
    /// The text of the first custom error that a [`Keep`] wrapper handed back to
    /// postcard (which keeps only that there was one).
    static FOUND: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The error of [`Sink`] and [`Keep`]: a text, and whether it is the value's own
/// (`custom`) or the format's.
#[derive(Debug)]
struct Reason {
    message: String,
    custom: bool,
}

impl Reason {
    /// The deserializer's own error (postcard's), which is not the value's.
    fn format<E: fmt::Display>(error: E) -> Reason {
        Reason {
            message: error.to_string(),
            custom: false,
        }
    }

    /// This error as postcard's (or another deserializer's) `E`, its text kept in
    /// [`FOUND`] if it is the value's own.
    fn into_outer<E: de::Error>(self) -> E {
        if self.custom {
            FOUND.with(|found| {
                found
                    .borrow_mut()
                    .get_or_insert_with(|| self.message.clone());
            });
        }
        E::custom(self.message)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Reason {}

impl ser::Error for Reason {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Reason {
            message: message.to_string(),
            custom: true,
        }
    }
}

impl de::Error for Reason {
    fn custom<T: fmt::Display>(message: T) -> Self {
        <Reason as ser::Error>::custom(message)
    }
}

// ---- serializing: a sink -------------------------------------------------------------

/// A serializer that writes nothing, as postcard sees values (not human-readable):
/// a value's `Serialize` fails in it where it failed in postcard, with its own text.
struct Sink;

type Done = Result<(), Reason>;

macro_rules! sink_scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Done { Ok(()) })*
    };
}

/// The starts of compound values: the sink again, for their parts.
macro_rules! sink_starts {
    ($($method:ident($($ty:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $ty),*) -> Result<Sink, Reason> { Ok(Sink) })*
    };
}

impl Serializer for Sink {
    type Ok = ();
    type Error = Reason;
    type SerializeSeq = Sink;
    type SerializeTuple = Sink;
    type SerializeTupleStruct = Sink;
    type SerializeTupleVariant = Sink;
    type SerializeMap = Sink;
    type SerializeStruct = Sink;
    type SerializeStructVariant = Sink;

    sink_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_str: &str,
        serialize_bytes: &[u8], serialize_unit_struct: &'static str,
    );

    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(Sink)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Done {
        v.serialize(Sink)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(Sink)
    }
    sink_starts!(
        serialize_seq(Option<usize>),
        serialize_tuple(usize),
        serialize_tuple_struct(&'static str, usize),
        serialize_tuple_variant(&'static str, u32, &'static str, usize),
        serialize_map(Option<usize>),
        serialize_struct(&'static str, usize),
        serialize_struct_variant(&'static str, u32, &'static str, usize),
    );

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The parts of a compound value: each one serialized into the sink.
macro_rules! sink_compound {
    ($($trait:ident: $method:ident $(($key:ty))?),* $(,)?) => {$(
        impl ser::$trait for Sink {
            type Ok = ();
            type Error = Reason;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $key,)? value: &T) -> Done {
                value.serialize(Sink)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

sink_compound!(
    SerializeSeq: serialize_element,
    SerializeTuple: serialize_element,
    SerializeTupleStruct: serialize_field,
    SerializeTupleVariant: serialize_field,
    SerializeStruct: serialize_field(&'static str),
    SerializeStructVariant: serialize_field(&'static str),
);

impl ser::SerializeMap for Sink {
    type Ok = ();
    type Error = Reason;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        key.serialize(Sink)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(Sink)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

// ---- deserializing: postcard's deserializer, wrapped ---------------------------------

/// A deserializer whose error is a [`Reason`]: what the value's `Deserialize` sees, at
/// every level, so that its custom error keeps its text (the wrappers below hand each
/// part of the value, and each visitor, the same wrapper).
struct Keep<D>(D);

/// A visitor given to the wrapped deserializer: it hands its value's visitor wrapped
/// accessors and deserializers, and turns its [`Reason`]s into the deserializer's error.
struct Wrap<V>(V);

macro_rules! keep_forward {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Reason> {
            self.0.$method($($arg,)* Wrap(visitor)).map_err(Reason::format)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Keep<D> {
    type Error = Reason;

    keep_forward!(
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_seq(), deserialize_map(),
        deserialize_identifier(), deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    );

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! wrap_visits {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method::<Reason>(v).map_err(Reason::into_outer)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    wrap_visits!(
        visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
        visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
        visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char,
        visit_str: &str, visit_borrowed_str: &'de str, visit_string: String,
        visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>,
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none::<Reason>().map_err(Reason::into_outer)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit::<Reason>().map_err(Reason::into_outer)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Keep(d)).map_err(Reason::into_outer)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0
            .visit_newtype_struct(Keep(d))
            .map_err(Reason::into_outer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Keep(seq)).map_err(Reason::into_outer)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Keep(map)).map_err(Reason::into_outer)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Keep(data)).map_err(Reason::into_outer)
    }
}

/// A part of the value, deserialized from the wrapped deserializer.
impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Keep(d)).map_err(Reason::into_outer)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Keep<A> {
    type Error = Reason;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Reason> {
        self.0.next_element_seed(Wrap(seed)).map_err(Reason::format)
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Keep<A> {
    type Error = Reason;
    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Reason> {
        self.0.next_key_seed(Wrap(seed)).map_err(Reason::format)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Reason> {
        self.0.next_value_seed(Wrap(seed)).map_err(Reason::format)
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Keep<A> {
    type Error = Reason;
    type Variant = Keep<A::Variant>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Keep<A::Variant>), Reason> {
        self.0
            .variant_seed(Wrap(seed))
            .map(|(value, variant)| (value, Keep(variant)))
            .map_err(Reason::format)
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Keep<A> {
    type Error = Reason;
    fn unit_variant(self) -> Result<(), Reason> {
        self.0.unit_variant().map_err(Reason::format)
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Reason> {
        self.0
            .newtype_variant_seed(Wrap(seed))
            .map_err(Reason::format)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Reason> {
        self.0
            .tuple_variant(len, Wrap(visitor))
            .map_err(Reason::format)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Reason> {
        self.0
            .struct_variant(fields, Wrap(visitor))
            .map_err(Reason::format)
    }
}
