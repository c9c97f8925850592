//! `sqlx::migrate!` embeds the migration folders at compile time; without this, editing a migration would not
//! rebuild the crate (the macro cannot tell cargo on stable Rust).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
