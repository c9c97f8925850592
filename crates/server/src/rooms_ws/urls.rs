//! The members' media URLs: push signed with the media app's push key, play URLs signed when its play auth is on.

use std::time::Duration;

use rooms::{MediaUrls, PlayUrls};

use super::RoomsSettings;

pub(super) struct RoomUrls {
    catalog: control::Catalog,
    base: control::urls::UrlBase,
    app: String,
    ttl: Duration,
}

impl RoomUrls {
    pub(super) fn new(
        catalog: control::Catalog,
        base: control::urls::UrlBase,
        settings: &RoomsSettings,
    ) -> Self {
        RoomUrls {
            catalog,
            base,
            app: settings.media_app.clone(),
            ttl: Duration::from_secs(settings.push_url_ttl_secs),
        }
    }

    fn urls(&self, stream: &str) -> Option<control::urls::AppUrls> {
        // The catalog snapshot is read without waiting on the database; the app exists from the start on.
        let app = self.catalog.app(&self.app)?;
        let expires = control::now_unix() + self.ttl.as_secs();
        Some(control::urls::app_urls(&self.base, &app, stream, expires))
    }
}

impl MediaUrls for RoomUrls {
    fn push_url(&self, stream: &str) -> String {
        self.urls(stream).map_or_else(
            || control::urls::unsigned_push_url(&self.base, &self.app, stream),
            |u| u.push,
        )
    }

    fn play_urls(&self, stream: &str) -> PlayUrls {
        let play = self.urls(stream).map_or_else(
            || control::urls::play_urls(&self.base, &self.app, stream, None),
            |u| u.play,
        );
        PlayUrls {
            rtmp: play.rtmp,
            flv: play.flv,
        }
    }
}
