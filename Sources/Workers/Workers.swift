import CartWorker
import CatalogWorker
import Foundation
import IdentityWorker
import Messaging
import NotificationWorker
import PromotionWorker

/// The five saga participants by name.
public enum Workers {
    /// The business logic of `participant` (`catalog`, `promotion`, `identity`, `cart`,
    /// `notification`), or `nil` for an unknown name. `mailDirectory`: where the notification
    /// worker writes each message (`nil`: it only records them).
    public static func handler(for participant: String, mailDirectory: URL? = nil) -> (any CommandHandler)? {
        switch participant {
        case "catalog": CatalogHandler()
        case "promotion": PromotionHandler()
        case "identity": IdentityHandler()
        case "cart": CartHandler()
        case "notification": NotificationHandler(delivery: mailDirectory.map { MailDirectoryDelivery(folder: $0) })
        default: nil
        }
    }
}
